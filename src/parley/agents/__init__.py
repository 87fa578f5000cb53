"""Worker agents: LLM servers that connect to a Parley hub over a WebSocket and serve models.

* :mod:`parley.agents.protocol`: the frames (one JSON object each), validated both ways;
* :mod:`parley.agents.connection`: one connected agent as the hub sees it (one reader,
  one writer, heartbeats, requests matched by id);
* :mod:`parley.agents.hub`: the registry and dispatcher (least busy, bounded queue,
  retry before the first chunk, partial after it, cancel);
* :mod:`parley.agents.client` and :mod:`parley.agents.upstream`: ``parley agent``, the
  worker that bridges a local OpenAI-compatible server to a hub.

The protocol is documented for agent authors in docs/agents.md.
"""
