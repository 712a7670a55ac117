"""Settings, read once from environment variables prefixed ``BPV_`` (e.g. ``BPV_PORT=9000``)."""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _default_max_connections() -> int:
    """1 000, or half the process's file-descriptor limit when that is lower: SQLite, the workers' pipes and
    the listening socket need descriptors too."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, min(1000, soft // 2)) if soft > 0 else 1000


class Settings(BaseSettings):
    """Every knob of the server. Limits guard the 2-core machines this runs on."""

    model_config = SettingsConfigDict(env_prefix="BPV_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    data_dir: Path = Path("data")

    # limits
    max_params: int = Field(2_000_000, ge=1)
    max_layers: int = Field(10, ge=1)  # hidden layers
    max_width: int = Field(1024, ge=1)
    max_epochs: int = Field(100_000, ge=1)
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)  # training processes
    max_running: int = Field(32, ge=1)  # runs training at once (sharing the workers); more wait in the queue
    max_queued: int = Field(32, ge=0)  # beyond this, new runs get 429
    snapshot_budget_mb: float = Field(64.0, gt=0)  # per run, before snapshots are thinned
    max_upload_bytes: int = Field(10_000_000, ge=1)
    max_upload_rows: int = Field(100_000, ge=1)
    max_upload_columns: int = Field(1_000, ge=1)
    max_samples: int = Field(100_000, ge=10)
    # examples × neurons of one pass over the data (each snapshot evaluates the whole training and test set):
    # 20 M values ≈ 160 MB of z and a in float32; 100 000 examples × 2 049 neurons would need 1.7 GB per run
    max_activations: int = Field(20_000_000, ge=1000)
    max_unsaved_mb: float = Field(64.0, gt=0)  # while storage fails: what may wait in memory before runs pause
    commit_interval: float = Field(0.25, gt=0, le=1.0)  # seconds between SQLite commits
    max_ws_message: int = Field(64 * 1024, ge=1024)
    max_frame_rate: float = Field(60.0, gt=0, le=1000)  # snapshots a second to one stream client, at most
    ws_send_timeout: float = Field(20.0, gt=0, le=3600)  # a WS client that takes no message for this long is cut off

    # a cluster (docs/deploy.md): both set → web replicas and `backprop-viz worker` processes share the work
    broker_url: str | None = None  # redis://host:6379/0
    database_url: str | None = None  # postgresql://user:password@host:5432/dbname
    checkpoint_seconds: float = Field(2.0, gt=0)  # a cluster worker saves where each run stands this often
    heartbeat_seconds: float = Field(1.0, gt=0, le=2)

    @property
    def clustered(self) -> bool:
        return bool(self.broker_url and self.database_url)

    # connections (app/connections.py): open sockets at most (HTTP and WebSocket; beyond it a new one
    # displaces the oldest that has not sent a request, and requests get 503), seconds a client may take to
    # send a request's headers, seconds an idle keep-alive connection stays open
    max_connections: int = Field(default_factory=_default_max_connections, ge=2, le=1_000_000)
    header_timeout: float = Field(10.0, gt=0, le=3600)
    keep_alive_timeout: int = Field(5, ge=1, le=3600)

    # security (app/security.py; README "Security")
    api_token: str | None = None  # generated at start when the server listens beyond loopback
    token_for_reads: bool | None = None  # None: reads need the token when the server listens beyond loopback
    allowed_hosts: Annotated[list[str], NoDecode] = []  # Host names besides loopback's; "*": any (DNS rebinding!)
    allowed_origins: list[str] = []  # Origins besides the server's own that may open the stream or send writes
    cors_origins: list[str] = []  # CORS is off unless listed
    frame_ancestors: list[str] = []  # origins that may embed the page in a frame (a notebook's); none by default

    @field_validator("api_token")
    @classmethod
    def _no_empty_token(cls, value: str | None) -> str | None:
        return value or None  # BPV_API_TOKEN= (empty) means no token, not the empty one

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: Any) -> Any:
        """A JSON list or a comma-separated string: ``viz.example.org,10.0.0.5``."""
        if isinstance(value, str):
            text = value.strip()
            return json.loads(text) if text.startswith("[") else [h.strip() for h in text.split(",") if h.strip()]
        return value

    @property
    def db_path(self) -> Path:
        return self.data_dir / "backprop-viz.sqlite3"
