"""Deterministic, streaming synthetic ChatGPT history in the official export shape.

Contract
--------
* :func:`generate` yields ``count`` conversations (plain dicts, the ``conversations.json``
  element shape). Conversation ``i`` is built from ``random.Random(seed + i)`` only, so the
  output is a pure function of the arguments and ``generate(n)`` is a prefix of
  ``generate(n + 1)`` — except with ``target_bytes``, where text lengths are steered by
  feedback so that the orjson-serialised total lands within ±15 % of the target (usually
  within 1-3 %). Only text lengths scale: structure (ids, metadata, ~16 KB for an average
  conversation) is a floor and edge cases (one holds a 2 MB message) are never scaled, so
  an unreachable target raises ``ValueError`` at call time. Memory stays flat: nothing is
  accumulated. All 36 edge cases are included once ``count`` exceeds 885.
* Regular conversations: ~20 messages on average (heavy-tailed turn count), create_time
  spread over ``span_days`` from ``start`` with weekday/evening peaks, growth, bursts and
  quiet weeks (with ``not_after``, a conversation whose later messages would fall after
  it is moved back as a whole, so that a history can end now); model slugs by era
  (text-davinci-002-render-sha, gpt-4, gpt-4o, o1, o3, gpt-5 ...); root
  ``client-created-root`` (message null) from mid-2024, older ones ``root -> hidden empty
  system message -> user``; occasional edits/regenerations
  (``current_node`` on the newest, *last* branch), reasoning thoughts, python tool calls,
  image uploads, search citations, projects (``g-p-...``) and custom GPTs (``g-...``),
  archived/starred flags, open-ended top-level keys. Text: prose, Markdown lists, tables,
  links, code fences in many languages, LaTeX, CJK/RTL/emoji (see :mod:`parley.synth.text`).
* :func:`edge_case_conversations` returns one conversation per catalogue entry (id
  ``edge-<name>-<hex>``); ``generate(edge_cases=True)`` puts entry ``k`` at index
  ``EDGE_FIRST + k * EDGE_STRIDE``. Catalogue (:data:`EDGE_CASE_NAMES`): rich-markdown,
  image-upload (file-service://), dalle-image (sediment://, metadata.dalle/generation),
  voice (audio_asset_pointer, audio_transcription, real_time_user_audio_video_asset_pointer),
  python-tool (code -> execution_output with aggregate_result images), browsing-legacy
  (tether_browsing_code/_display, tether_quote), legacy-citations (【11†source】 +
  metadata.citations), web-search (sonic_webpage + \\ue200cite markers with
  content_references), reasoning (thoughts, reasoning_recap), custom-instructions
  (user_editable_context, model_editable_context), system-error, computer-use
  (computer_output), app-pairing (app_pairing_content), unknown-type (x_hologram),
  branches, current-null, current-missing, no-id, null-title, dict-parts, missing-fields,
  hidden, empty-placeholder, parent-cycle, dangling-child, orphan, hostile-html, status
  (finished_partial_completion, in_progress, error), single-message, unicode,
  null-create-time, legacy-root, project, custom-gpt, future-fields, huge-message (~2 MB).
  Only parent-cycle, dangling-child and orphan are structurally malformed.
* :func:`write_export_zip` / :func:`write_conversations_json` stream element by element;
  :func:`slim` is the 2026 slim transformation (no ``children``; no ``status``, ``weight``,
  ``end_turn``, ``recipient``).
"""

from __future__ import annotations

from parley.synth.builder import ROOT
from parley.synth.content import Conversation
from parley.synth.edges import EDGE_CASE_NAMES, EDGE_FIRST, EDGE_STRIDE, edge_case_conversations
from parley.synth.edges_kit import EdgeBuilder
from parley.synth.files import SLIM_DROP, USER_ID, slim, write_conversations_json, write_export_zip
from parley.synth.generation import generate
from parley.synth.timeline import CLIENT_ROOT_SINCE, GPT5_SINCE, SEARCH_SINCE

__all__ = [
    "CLIENT_ROOT_SINCE",
    "EDGE_CASE_NAMES",
    "EDGE_FIRST",
    "EDGE_STRIDE",
    "GPT5_SINCE",
    "ROOT",
    "SEARCH_SINCE",
    "SLIM_DROP",
    "USER_ID",
    "Conversation",
    "EdgeBuilder",
    "edge_case_conversations",
    "generate",
    "slim",
    "write_conversations_json",
    "write_export_zip",
]
