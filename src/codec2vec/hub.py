"""The Hugging Face Hub, for model and dataset repositories named by id ('owner/name'), optionally at
a revision ('owner/name@revision': a commit, branch or tag)."""

from __future__ import annotations

from pathlib import Path

from codec2vec.errors import ConfigError


def split_revision(spec: str) -> tuple[str, str | None]:
    """'owner/name@revision' -> ('owner/name', 'revision'); without '@', the revision is None."""
    repo, _, revision = spec.partition("@")
    return repo, revision or None


def is_hub_id(spec: str) -> bool:
    """'owner/name' or 'owner/name@revision' that is not a path here: a Hugging Face Hub repository."""
    repo = split_revision(spec)[0]
    return repo.count("/") == 1 and not repo.startswith((".", "/", "~")) and not Path(spec).exists()


def hub_snapshot(spec: str, repo_type: str = "model") -> Path:
    """The local folder of a Hub repository ('owner/name[@revision]'): from the local cache first,
    then the network. Its name is the commit it holds."""
    from huggingface_hub import snapshot_download

    repo_id, revision = split_revision(spec)
    try:
        return Path(snapshot_download(repo_id, repo_type=repo_type, revision=revision, local_files_only=True))
    except Exception:  # huggingface_hub's not-in-cache errors differ between its versions
        pass
    try:
        return Path(snapshot_download(repo_id, repo_type=repo_type, revision=revision))
    except Exception as e:
        raise ConfigError(f"'{spec}': no such folder here, and not a Hugging Face Hub {repo_type} in the local "
                          f"cache or downloadable ({type(e).__name__}); for a Hub {repo_type}, on a machine with "
                          f"network: huggingface-cli download --repo-type {repo_type} {repo_id}"
                          + (f" --revision {revision}" if revision else "")) from None
