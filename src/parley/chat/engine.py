"""The chat engine: every turn, whichever door it came through, becomes nodes of the tree.

Each operation is an async generator of events: :class:`Started` (ids known), a
:class:`Delta` per piece of text, then the final :class:`Turn`. Operations:

* :meth:`ChatEngine.ask`: the prompt becomes a child of ``parent_id`` (default: the
  current node), or the first message of a new conversation titled from it; the model
  sees the path root -> parent, then the prompt;
* :meth:`ChatEngine.regenerate`: another answer, a sibling of an assistant node (or a new
  child of any other node);
* :meth:`ChatEngine.edit`: a sibling prompt of a node, answered;
* :meth:`ChatEngine.continue_`: an answer carried on; stored as a sibling holding the whole
  text, because complete messages never change (shared links are snapshots).

Invariants:

* no backend for the model: 503 before anything is stored; a missing conversation or
  node is a 404 (even without a backend);
* one write transaction stores the prompt and an ``in_progress`` answer and points
  ``current_node`` at it; for ``ask`` and ``edit`` it runs while the model is already
  being asked (the path sent to the model is read first, read-only), for the others it
  runs before; one more transaction completes the answer, once the first succeeded. A
  process that dies mid-call leaves the prompt and the ``in_progress`` answer behind;
* failures, cancellation, ``autocontinue`` and where database work runs: see
  :mod:`parley.chat.answering`, which every door shares.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing

from parley.chat.answering import Answerer, Event, Plan, new_id
from parley.chat.turns import (
    message,
    new_conversation,
    placeholder,
    prompt_messages,
    title_from_prompt,
)
from parley.errors import BadRequest, NotFound, Unavailable, Unprocessable
from parley.store import turns as store
from parley.store.conversations import get_pk
from parley.store.direct import Db


class ChatEngine(Answerer):
    """The chat operations (see the module docstring); answering is :class:`Answerer`'s."""

    # --- operations -----------------------------------------------------------------------

    async def ask(
        self,
        *,
        owner_id: str,
        prompt: str,
        conversation_id: str | None = None,
        parent_id: str | None = None,
        model: str | None = None,
        autocontinue: bool = False,
        title: str | None = None,
    ) -> AsyncGenerator[Event, None]:
        if not prompt.strip():
            raise Unprocessable("'prompt' is empty")
        if conversation_id is None and parent_id is not None:
            raise BadRequest("'parent_id' needs the 'conversation_id' it belongs to")
        chosen = await self._model(owner_id, conversation_id, model)
        if conversation_id is None:
            plan = self._new(owner_id, prompt, title, chosen)
        else:
            cid = conversation_id

            def under(db: Db, found: store.Head) -> list[store.NodeInfo]:
                parent = parent_id or found.current_node
                path = store.path(db, pk=found.pk, node_id=parent) if parent else []
                if not path and parent_id is not None:
                    raise NotFound(f"message {parent_id!r} not found in conversation {cid!r}")
                if not path:  # current_node unset or gone: the latest leaf
                    leaf = _latest_leaf(db, owner_id, cid)
                    path = store.path(db, pk=found.pk, node_id=leaf)
                return path

            plan = await self._prompt(owner_id, cid, under, prompt, chosen)
        plan.autocontinue = autocontinue
        async with aclosing(self.answer(plan)) as events:
            async for event in events:
                yield event

    async def edit(
        self,
        *,
        owner_id: str,
        conversation_id: str,
        node_id: str,
        prompt: str,
        model: str | None = None,
        autocontinue: bool = False,
    ) -> AsyncGenerator[Event, None]:
        """A new prompt beside ``node_id`` (same parent), answered."""
        if not prompt.strip():
            raise Unprocessable("'prompt' is empty")
        chosen = await self._model(owner_id, conversation_id, model)

        def beside(db: Db, found: store.Head) -> list[store.NodeInfo]:
            target = _node(db, found.pk, conversation_id, node_id)
            if target.parent_id is None:
                raise BadRequest(f"node {node_id!r} is the root; there is nothing to edit")
            return store.path(db, pk=found.pk, node_id=target.parent_id)

        plan = await self._prompt(owner_id, conversation_id, beside, prompt, chosen)
        plan.autocontinue = autocontinue
        async with aclosing(self.answer(plan)) as events:
            async for event in events:
                yield event

    def regenerate(
        self,
        *,
        owner_id: str,
        conversation_id: str,
        node_id: str,
        model: str | None = None,
        autocontinue: bool = False,
    ) -> AsyncGenerator[Event, None]:
        """Another answer beside the assistant node ``node_id``, or under any other node."""
        return self._again(owner_id, conversation_id, node_id, model, autocontinue, carry_on=False)

    def continue_(
        self,
        *,
        owner_id: str,
        conversation_id: str,
        node_id: str,
        model: str | None = None,
        autocontinue: bool = False,
    ) -> AsyncGenerator[Event, None]:
        """The answer at ``node_id`` carried on, stored whole as its new sibling."""
        return self._again(owner_id, conversation_id, node_id, model, autocontinue, carry_on=True)

    async def _again(
        self,
        owner_id: str,
        conversation_id: str,
        node_id: str,
        model: str | None,
        autocontinue: bool,
        *,
        carry_on: bool,
    ) -> AsyncGenerator[Event, None]:
        chosen = await self._model(owner_id, conversation_id, model)
        now = time.time()
        answer_id = new_id()

        def start(db: Db) -> Plan:
            head = store.touch(db, owner_id=owner_id, conversation_id=conversation_id, now=now)
            target = _node(db, head.pk, conversation_id, node_id)
            prefix = ""
            if carry_on:
                if target.role != "assistant" or not target.text:
                    raise BadRequest(f"node {node_id!r} is not an answer that can be continued")
                parent, prefix = target.parent_id, target.text
            else:
                parent = target.parent_id if target.role == "assistant" else target.node_id
            path = store.path(db, pk=head.pk, node_id=parent) if parent else []
            position = store.next_position(db, pk=head.pk, parent_id=parent)
            stub = placeholder(answer_id, parent_id=parent, model=chosen, now=now)
            store.append_nodes(
                db,
                pk=head.pk,
                nodes=[store.NewNode(answer_id, parent, stub, position)],
                current_node=answer_id,
                now=now,
            )
            return Plan(
                conversation_id=conversation_id,
                pk=head.pk,
                parent_id=parent,
                node_id=answer_id,
                prompt_id=None,
                messages=prompt_messages(path),
                model=chosen,
                prefix=prefix,
                metadata={"continued_from": node_id} if carry_on else {},
            )

        plan = await self.run_db(start)
        plan.autocontinue = autocontinue
        async with aclosing(self.answer(plan)) as events:
            async for event in events:
                yield event

    # --- the building blocks --------------------------------------------------------------

    async def _model(self, owner_id: str, conversation_id: str | None, model: str | None) -> str:
        """The model to use; a missing conversation is a 404 even when no backend serves."""
        try:
            return await self.model_for(model)
        except Unavailable:
            if conversation_id is not None:
                await self.run_db(
                    lambda db: get_pk(db, owner_id=owner_id, conversation_id=conversation_id)
                )
            raise

    def _new(self, owner_id: str, prompt: str, title: str | None, model: str) -> Plan:
        """A new conversation, written while the model is already being asked."""
        now = time.time()
        question = message(new_id(), "user", prompt, now=now)
        stub = placeholder(new_id(), parent_id=question["id"], model=model, now=now)
        conversation = new_conversation(
            new_id(),
            title=title or title_from_prompt(prompt),
            model=model,
            now=now,
            nodes=[(question["id"], question), (stub["id"], stub)],
        )

        def create(db: Db) -> int:
            return store.create_conversation(db, owner_id=owner_id, conversation=conversation)

        return Plan(
            conversation_id=conversation["id"],
            parent_id=question["id"],
            prompt_id=question["id"],
            messages=[{"role": "user", "content": prompt}],
            model=model,
            node_id=stub["id"],
            created=True,
            pending=self.write_soon(create),
        )

    async def _prompt(
        self,
        owner_id: str,
        conversation_id: str,
        where: Callable[[Db, store.Head], list[store.NodeInfo]],
        prompt: str,
        model: str,
    ) -> Plan:
        """A prompt under the last node of the path ``where`` reads; written while the
        model is already being asked."""

        def read(db: Db) -> tuple[int, list[store.NodeInfo]]:
            found = store.head(db, owner_id=owner_id, conversation_id=conversation_id)
            return found.pk, where(db, found)

        pk, path = await self.read_db(read)
        parent, now = path[-1].node_id, time.time()
        question = message(new_id(), "user", prompt, now=now)
        stub = placeholder(new_id(), parent_id=question["id"], model=model, now=now)

        def write(db: Db) -> int:
            store.touch(db, owner_id=owner_id, conversation_id=conversation_id, now=now)
            position = store.next_position(db, pk=pk, parent_id=parent)
            nodes = [
                store.NewNode(question["id"], parent, question, position),
                store.NewNode(stub["id"], question["id"], stub, 0),
            ]
            store.append_nodes(db, pk=pk, nodes=nodes, current_node=stub["id"], now=now)
            return pk

        return Plan(
            conversation_id=conversation_id,
            parent_id=question["id"],
            prompt_id=question["id"],
            messages=[*prompt_messages(path), {"role": "user", "content": prompt}],
            model=model,
            pk=pk,
            node_id=stub["id"],
            pending=self.write_soon(write),
        )


def _node(db: Db, pk: int, conversation_id: str, node_id: str) -> store.NodeInfo:
    found = store.node(db, pk=pk, node_id=node_id)
    if found is None:
        raise NotFound(f"message {node_id!r} not found in conversation {conversation_id!r}")
    return found


def _latest_leaf(db: Db, owner_id: str, conversation_id: str) -> str:
    """The most recent leaf (tree.py's rule for a current_node that is unset or gone)."""
    from parley import tree
    from parley.store import conversations

    data = conversations.load(db, owner_id=owner_id, conversation_id=conversation_id)
    leaf = tree.Tree.build(data.get("mapping")).latest_leaf()
    if leaf is None:
        raise BadRequest(f"conversation {conversation_id!r} has no message to answer")
    return leaf
