"""Chatting: LLM backends, and the engine that turns every turn into tree nodes."""
