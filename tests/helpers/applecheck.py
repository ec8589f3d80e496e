"""A reusable checker of Apple configuration profiles against tests/data/apple-profile-schema/schema.json
(a copy of ../shared's, with its NOTICE).

`check_profile(profile, schema)` takes a profile as `plistlib.loads` returns it and lists every
violation, one sentence each, with the path of the key in the profile (an empty list: the profile
conforms). It checks, at the top level (`TopLevel`) and in each payload (`CommonPayloadKeys` plus the
payload type's own keys): unknown keys, missing required keys, property-list types, values outside
`enum`, strings not matching `format`, nested dictionaries and arrays (LDAPSearchSettings items…), and
the service's policy: no secret key anywhere, only the allowed payload types. Identifiers and UUIDs
must be unique within the profile, as Apple requires.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.helpers.paths import DATA

SCHEMA_PATH = DATA / "apple-profile-schema" / "schema.json"

# Property-list types as plistlib reads them. bool is a subclass of int, hence the explicit exclusion.
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
    "dictionary": (dict,),
    "data": (bytes,),
    "date": (dt.datetime,),
    "real": (float,),
}


def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def type_name(value: Any) -> str:
    for name, types in _TYPES.items():
        if isinstance(value, types) and not (name in {"integer", "real"} and isinstance(value, bool)):
            return name
    return type(value).__name__


def check_profile(profile: Any, schema: Mapping[str, Any]) -> list[str]:
    """Every way `profile` departs from the schema and the service's policy."""
    violations: list[str] = []
    if not isinstance(profile, dict):
        return [f"(profile): expected a dictionary, found {type_name(profile)}"]
    _check_keys(profile, schema["TopLevel"]["keys"], "", violations)
    content = profile.get("PayloadContent")
    if isinstance(content, list):
        for index, payload in enumerate(content):
            if isinstance(payload, dict):
                _check_payload(payload, schema, f"PayloadContent[{index}]", violations)
    _check_secrets(profile, set(schema["policy"]["secretKeys"]), "", violations)
    _check_unique(profile, violations)
    return violations


def _check_payload(payload: dict[str, Any], schema: Mapping[str, Any], where: str, out: list[str]) -> None:
    kind = payload.get("PayloadType")
    allowed = schema["policy"]["allowedPayloadTypes"]
    if kind not in allowed:
        out.append(f"{where}.PayloadType: {kind!r} is not an allowed payload type ({', '.join(allowed)})")
    if kind not in schema["payloads"]:
        # Without its schema only the common keys can be checked; its other keys are not reported.
        common = schema["CommonPayloadKeys"]["keys"]
        _check_keys({k: v for k, v in payload.items() if k in common}, common, where, out)
        return
    keys = {**schema["CommonPayloadKeys"]["keys"], **schema["payloads"][kind]["keys"]}
    _check_keys(payload, keys, f"{where} ({kind})", out)


def _check_keys(value: dict[str, Any], keys: Mapping[str, Any], where: str, out: list[str]) -> None:
    for name, spec in keys.items():
        if spec.get("required") and name not in value:
            out.append(f"{_join(where, name)}: required key missing")
    for name, item in value.items():
        path = _join(where, name)
        if name not in keys:
            out.append(f"{path}: unknown key")
            continue
        _check_value(item, keys[name], path, out)


def _check_value(value: Any, spec: Mapping[str, Any], where: str, out: list[str]) -> None:
    expected = spec["type"]
    found = type_name(value)
    if found != expected:
        out.append(f"{where}: expected {expected}, found {found} {value!r:.60}")
        return
    if "enum" in spec and value not in spec["enum"]:
        out.append(f"{where}: {value!r:.60} is not one of {spec['enum']}")
    if "format" in spec and isinstance(value, str) and not re.fullmatch(spec["format"], value):
        out.append(f"{where}: {value!r:.60} does not match {spec['format']}")
    if expected == "array" and "items" in spec:
        for index, item in enumerate(value):
            _check_value(item, spec["items"], f"{where}[{index}]", out)
    elif expected == "dictionary":
        if spec.get("anyKeys"):
            if "valueType" in spec:
                for name, item in value.items():
                    _check_value(item, {"type": spec["valueType"]}, _join(where, name), out)
        else:
            _check_keys(value, spec.get("keys", {}), where, out)


def _check_secrets(value: Any, secrets: set[str], where: str, out: list[str]) -> None:
    if isinstance(value, dict):
        for name, item in value.items():
            path = _join(where, name)
            if name in secrets:
                out.append(f"{path}: a secret key must never be in a profile")
            _check_secrets(item, secrets, path, out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_secrets(item, secrets, f"{where}[{index}]", out)


def _check_unique(profile: dict[str, Any], out: list[str]) -> None:
    payloads = [profile, *(p for p in profile.get("PayloadContent", []) if isinstance(p, dict))]
    for key in ("PayloadIdentifier", "PayloadUUID"):
        seen: set[str] = set()
        for payload in payloads:
            value = payload.get(key)
            if isinstance(value, str):
                folded = value.lower() if key == "PayloadUUID" else value
                if folded in seen:
                    out.append(f"{key}: {value!r} is used by more than one payload")
                seen.add(folded)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name
