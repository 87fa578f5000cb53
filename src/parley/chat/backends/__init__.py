"""LLM backends behind one contract (see :mod:`parley.chat.backends.base`)."""
