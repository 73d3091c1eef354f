"""The self-describing adapter directory: what training writes and the node reads.

An adapter directory holds the PEFT adapter (adapter_config.json,
adapter_model.safetensors), the tokenizer (with the chat template used in
training), a model card (README.md) and `robot_sft.json`, the metadata below.
Pure Python: reading metadata needs neither torch nor rclpy.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from robot_sft.response_format import RESPONSE_FORMAT_VERSION

METADATA_FILE = "robot_sft.json"
METADATA_KIND = "robot_sft.adapter"
REQUIRED_FILES = ("adapter_config.json", "adapter_model.safetensors", "tokenizer_config.json",
                  METADATA_FILE)
# What a robot whose model runs on an inference server needs: the prompt (system prompt in
# the metadata, chat template with the tokenizer), not the weights (the server has them).
PROMPT_FILES = ("tokenizer_config.json", METADATA_FILE)


class AdapterError(RuntimeError):
    """An adapter directory is missing, incomplete, corrupt or of another format version."""


@dataclass
class AdapterMetadata:
    base_model: str                      # "embedded", a hub id, or a local path
    system_prompt: str
    chat_template: str                   # name of the template used ("tokenizer", "zephyr", ...)
    response_format_version: str = RESPONSE_FORMAT_VERSION
    data_sha256: str = ""
    config: dict = field(default_factory=dict)   # the resolved training config
    metrics: dict = field(default_factory=dict)  # final train / held-out metrics
    created: str = ""
    kind: str = METADATA_KIND

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, default=str)


def write_metadata(directory, metadata: AdapterMetadata) -> Path:
    path = Path(directory) / METADATA_FILE
    path.write_text(metadata.to_json() + "\n", encoding="utf-8")
    return path


def read_metadata(directory, weights: bool = True) -> AdapterMetadata:
    """Validate an adapter directory and return its metadata, or raise AdapterError
    with a message that names the problem. `weights=False`: only the prompt files must be
    there (PROMPT_FILES; a robot whose model runs on an inference server)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise AdapterError(f"adapter directory {directory} does not exist")
    missing = [name for name in (REQUIRED_FILES if weights else PROMPT_FILES)
               if not (directory / name).is_file()]
    if missing:
        raise AdapterError(f"adapter directory {directory} is incomplete: missing {', '.join(missing)}")
    path = directory / METADATA_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdapterError(f"{path} is corrupt: {exc}") from exc
    if not isinstance(data, dict) or data.get("kind") != METADATA_KIND:
        raise AdapterError(f"{path} is not robot_sft adapter metadata")
    version = data.get("response_format_version")
    if version != RESPONSE_FORMAT_VERSION:
        raise AdapterError(
            f"{directory} was trained for response format {version!r}, this robot_sft "
            f"speaks {RESPONSE_FORMAT_VERSION!r}: retrain the adapter")
    known = AdapterMetadata.__dataclass_fields__
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise AdapterError(f"{path} has unknown fields {unknown}")
    try:
        return AdapterMetadata(**data)
    except TypeError as exc:
        raise AdapterError(f"{path} lacks required fields: {exc}") from exc
    