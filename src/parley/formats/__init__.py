"""Conversation formats: reading ChatGPT exports; writing Markdown, HTML and JSONL."""
