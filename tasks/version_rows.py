"""Model versions as the scan reads them (name, number, status, tags), a search page at a time.

From an MLflow server the search's JSON is read as it comes: MLflow's client turns each version into a protobuf
message and then an entity, which costs this process about three times what the server spends serialising it. The
request is MLflow's own (`http_request_safe` with the registry's credentials: authentication, TLS, retries and
headers as MlflowClient sends them). Any other registry (a database URI, Databricks) is read through MlflowClient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import mlflow
from mlflow import MlflowClient
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import http_request_safe

from tasks.retrying import retried

SEARCH = "/api/2.0/mlflow/model-versions/search"
NOT_SET = "PENDING_REGISTRATION"  # the status MLflow's client reads when a version's status is absent


@dataclass(frozen=True)
class VersionRow:
    """One model version: what the scan needs of it."""

    name: str
    version: str
    status: str
    tags: dict[str, str] = field(default_factory=dict)


def search_rows(
    c: MlflowClient, where: str, order_by: list[str], page_size: int, token: str | None
) -> tuple[list[VersionRow], str | None]:
    """One page of the versions matching `where`, and the next page's token (None after the last)."""
    uri = mlflow.get_registry_uri()
    if urlparse(uri).scheme not in ("http", "https"):
        page = retried(c.search_model_versions, where, max_results=page_size, order_by=order_by, page_token=token)
        rows = [VersionRow(mv.name, str(mv.version), str(mv.status), dict(mv.tags or {})) for mv in page]
        return rows, page.token or None
    params: dict[str, Any] = {"filter": where, "max_results": page_size, "order_by": order_by}
    if token:
        params["page_token"] = token
    body = retried(http_request_safe, get_default_host_creds(uri), SEARCH, "GET", params=params).json()
    return [_row(v) for v in body.get("model_versions", [])], body.get("next_page_token") or None


def _row(version: dict[str, Any]) -> VersionRow:
    tags = {t["key"]: t.get("value", "") for t in version.get("tags", [])}
    return VersionRow(version["name"], str(version["version"]), version.get("status", NOT_SET), tags)
