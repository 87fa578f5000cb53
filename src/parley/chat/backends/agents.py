"""The agents backend: the models that connected worker agents announce, served by them.

``models()`` is the union of the models of the connected agents that are not draining (it
changes as agents come and go); ``stream()`` dispatches through the
:class:`~parley.agents.hub.Hub` with its rules: least busy agent, a bounded wait when all
are busy (503 after it), a retry on another agent when one dies before sending any text,
``BackendError(partial=True)`` when it dies after, ``cancel`` when the caller stops reading.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from parley.agents.hub import Hub
from parley.chat.backends.base import ChatRequest, Chunk


class AgentsBackend:
    name = "agents"

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def models(self) -> list[str]:
        return self.hub.models()

    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        return self.hub.stream(request)
