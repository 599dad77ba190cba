"""The Hugging Face Hub, for model and dataset repositories named by id ('owner/name')."""

from __future__ import annotations

from pathlib import Path

from codec2vec.errors import ConfigError


def is_hub_id(spec: str) -> bool:
    """'owner/name' that is not a path here: a Hugging Face Hub repository."""
    return spec.count("/") == 1 and not spec.startswith((".", "/", "~")) and not Path(spec).exists()


def hub_snapshot(repo_id: str, repo_type: str = "model") -> Path:
    """The local folder of a Hub repository: from the local cache first, then the network."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, repo_type=repo_type, local_files_only=True))
    except Exception:  # huggingface_hub's not-in-cache errors differ between its versions
        pass
    try:
        return Path(snapshot_download(repo_id, repo_type=repo_type))
    except Exception as e:
        raise ConfigError(f"'{repo_id}': no such folder here, and not a Hugging Face Hub {repo_type} in the local "
                          f"cache or downloadable ({type(e).__name__}); for a Hub {repo_type}, on a machine with "
                          f"network: huggingface-cli download --repo-type {repo_type} {repo_id}") from None
