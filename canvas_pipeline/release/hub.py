"""Publishing a release folder to the Hugging Face Hub, and keeping the token out of
everything else. The token is read from `HF_TOKEN` in the environment at the moment of
publishing and handed only to the Hub client; it is never logged, returned or written."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from huggingface_hub import HfApi

TOKEN_ENV = "HF_TOKEN"
Log = Callable[[str], None]


class PublishError(RuntimeError):
    """The release folder was written but the upload failed (message redacted)."""


def hub_token() -> str | None:
    """The Hub token from the environment, or None."""
    return os.environ.get(TOKEN_ENV) or None


def redact(text: str, secret: str | None) -> str:
    """`text` with every occurrence of `secret` replaced."""
    return text.replace(secret, "[redacted]") if secret else text


def publish_problems(publish: bool, repo_id: str | None) -> list[str]:
    """Why a publish request cannot be carried out (empty when it can, or when no publish
    was asked for); checked before any work or any Hub call."""
    if not publish:
        return []
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    problems = []
    if not repo_id:
        problems.append("publish requested without a repo_id (set CANVAS_RELEASE_REPO_ID or pass repo_id)")
    else:
        try:
            validate_repo_id(repo_id)
        except HFValidationError as exc:
            problems.append(f"publish requested with an invalid repo_id {repo_id!r}: {exc}")
    if not hub_token():
        problems.append(f"publish requested without {TOKEN_ENV} in the environment: export a Hub write token")
    return problems


def publish_folder(
    folder: Path,
    repo_id: str,
    private: bool,
    message: str,
    log: Log,
    repo_type: str = "model",
    allow_patterns: list[str] | None = None,
) -> str | None:
    """Create the repo (a model repo unless `repo_type` says "dataset") if needed and upload
    `folder` (only the files matching `allow_patterns` when given); returns the commit URL.
    Any error is re-raised as PublishError with the token removed from its message."""
    token = hub_token()
    if token is None:
        raise PublishError(f"{TOKEN_ENV} is not set: nothing was uploaded")
    only = {"allow_patterns": allow_patterns} if allow_patterns is not None else {}
    try:
        api = HfApi(token=token)
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        kind = "" if repo_type == "model" else f"{repo_type} "
        log(f"release: uploading {folder} to {kind}{repo_id} ({'private' if private else 'public'})")
        info = api.upload_folder(
            repo_id=repo_id, folder_path=str(folder), repo_type=repo_type, commit_message=message, **only
        )
    except Exception as exc:  # noqa: BLE001 - every Hub failure is reported the same way, redacted
        raise PublishError(redact(f"upload to {repo_id} failed: {type(exc).__name__}: {exc}", token)) from None
    url = getattr(info, "commit_url", None)
    return url if isinstance(url, str) else None
