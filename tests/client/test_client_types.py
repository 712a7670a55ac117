"""The client's TypedDicts name the fields the server's OpenAPI document gives the same objects: the client
does not import the server, so this is what keeps the two in step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.main import create_app
from backprop_viz import _types

PAIRS = [(_types.EpochPoint, "EpochPoint"), (_types.RunInfo, "RunOut"), (_types.DatasetInfo, "DatasetInfoOut")]


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data_dir: Path = tmp_path_factory.mktemp("types")
    doc: dict[str, Any] = create_app(Settings(data_dir=data_dir)).openapi()
    return doc["components"]["schemas"]


@pytest.mark.parametrize(("typed", "name"), PAIRS, ids=[n for _, n in PAIRS])
def test_the_client_types_have_the_servers_fields(typed: Any, name: str, schemas: dict[str, Any]) -> None:
    server_fields = set(schemas[name]["properties"])
    client_fields = set(typed.__annotations__)
    assert client_fields == server_fields, (f"only in the client: {sorted(client_fields - server_fields)}; "
                                            f"only in the server: {sorted(server_fields - client_fields)}")
