"""A small proto3 wire codec driven by a schema table (plain data), so that llmtrace can speak
gRPC messages without protobuf or a vendor SDK at run time (``serve`` replays xAI's gRPC
cassettes). The table's shape is documented in ``llmtrace/dialects/xai_schema.py``.

The JSON side is protobuf's JSON mapping as ``json_format.MessageToDict(...,
preserving_proto_field_name=True)`` writes it — what the cassettes hold: field names (the
lowerCamel JSON names are accepted too), enums by name (numbers accepted; an unknown number
stays a number: proto3 enums are open), 64-bit integers as strings (numbers accepted), bytes as
base64, floats ``"NaN"``/``"Infinity"``/``"-Infinity"`` when not finite, map fields as objects,
``google.protobuf.Timestamp`` as an RFC 3339 string. ``null`` means "not set".

``encode`` writes what ``json_format.ParseDict(value, Msg()).SerializeToString(deterministic=True)``
writes: fields in number order; an implicit-presence scalar equal to its default is left out,
explicit presence (``optional``, oneof members, messages) is written even when default; repeated
numbers packed; ``float`` rounded to 32 bits; map entries sorted by key as upb's deterministic
form sorts them (protobuf's default order of map entries is its hash table's). Bad input (unknown key, wrong
type, out of range, two members of one oneof) → ``ValueError`` naming the path.

``decode`` gives what ``MessageToDict(Msg.FromString(data), preserving_proto_field_name=True)``
gives: last value wins for a scalar given twice, a message given twice is merged, a oneof keeps
its last member, packed and unpacked repeated numbers both read, unknown fields (and known
numbers with another wire type, as protobuf does) skipped. Recordings are untrusted: a
truncated varint or length, a length beyond its message, a bad wire type, bad UTF-8 in a string,
nesting deeper than ``MAX_DEPTH`` → ``ValueError("... at byte N")``, nothing else.

Cost: ``decode`` reads each byte once (a nested message is read in place, within its bounds,
never copied); strings and bytes are sliced, not walked; the output is at most linear in the
input. ``encode`` is linear in the output times the nesting depth (each message's bytes are
copied once into its parent).
"""

from __future__ import annotations

import base64
import datetime
import math
import re
import struct
from typing import Any

MAX_DEPTH = 100
TIMESTAMP = "google.protobuf.Timestamp"

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5
_WIRE = {"double": I64, "fixed64": I64, "sfixed64": I64, "float": I32, "fixed32": I32, "sfixed32": I32,
         "string": LEN, "bytes": LEN, "message": LEN}  # everything else is a varint
_STRUCT = {"double": struct.Struct("<d"), "fixed64": struct.Struct("<Q"), "sfixed64": struct.Struct("<q"),
           "float": struct.Struct("<f"), "fixed32": struct.Struct("<I"), "sfixed32": struct.Struct("<i")}
_RANGE = {"int32": (-1 << 31, (1 << 31) - 1), "sint32": (-1 << 31, (1 << 31) - 1),
          "sfixed32": (-1 << 31, (1 << 31) - 1), "enum": (-1 << 31, (1 << 31) - 1),
          "uint32": (0, (1 << 32) - 1), "fixed32": (0, (1 << 32) - 1),
          "int64": (-1 << 63, (1 << 63) - 1), "sint64": (-1 << 63, (1 << 63) - 1),
          "sfixed64": (-1 << 63, (1 << 63) - 1), "uint64": (0, (1 << 64) - 1), "fixed64": (0, (1 << 64) - 1)}
_INT64 = frozenset(("int64", "uint64", "sint64", "fixed64", "sfixed64"))  # JSON strings
_FLOAT_MAX = float.fromhex("0x1.fffffep+127")
_MASK64 = (1 << 64) - 1
_SECONDS_MIN, _SECONDS_MAX = -62135596800, 253402300799  # 0001-01-01 .. 9999-12-31
_EPOCH = datetime.datetime(1970, 1, 1)
_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d\d):(\d\d))\Z")
_UNPAIRED_SURROGATE = re.compile("[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]")


class Field:
    """One row of the table, with what the wire needs worked out once (wire type, tag bytes)."""

    __slots__ = ("name", "number", "type", "repeated", "map", "explicit", "type_name", "oneof",
                 "wire", "packed", "tag", "packed_tag", "siblings")

    def __init__(self, row: tuple):
        self.name, self.number, self.type, label, presence, self.type_name, self.oneof = row
        self.repeated = label == "repeated"
        self.map = label == "map"
        self.explicit = presence == "explicit"
        self.wire = _WIRE.get(self.type, VARINT)
        self.packed = self.repeated and self.wire != LEN
        self.tag = _varint(self.number << 3 | self.wire)
        self.packed_tag = _varint(self.number << 3 | LEN)
        self.siblings: tuple[int, ...] = ()  # the numbers of the other members of its oneof


class Schema:
    """The table compiled for the codec: fields by name, JSON name and number; enums both ways."""

    def __init__(self, messages: dict[str, list[tuple]], enums: dict[str, dict[str, int]]):
        self.fields: dict[str, list[Field]] = {}
        self.by_key: dict[str, dict[str, Field]] = {}
        self.by_number: dict[str, dict[int, Field]] = {}
        for name, rows in messages.items():
            if name.startswith("google.protobuf.") and name != TIMESTAMP:
                raise ValueError(f"well-known type {name} has a JSON form this codec does not write")
            fields = sorted((Field(row) for row in rows), key=lambda f: f.number)
            for f in fields:
                if f.oneof is not None:
                    f.siblings = tuple(o.number for o in fields if o.oneof == f.oneof and o is not f)
            self.fields[name] = fields
            self.by_number[name] = {f.number: f for f in fields}
            keys = {_camel(f.name): f for f in fields}
            keys.update((f.name, f) for f in fields)
            self.by_key[name] = keys
        self.enum_numbers = enums
        self.enum_names = {name: {n: v for v, n in reversed(values.items())} for name, values in enums.items()}
        for fields in self.fields.values():
            for f in fields:
                table = self.fields if f.type == "message" else self.enum_numbers if f.type == "enum" else None
                if table is not None and f.type_name not in table:
                    raise ValueError(f"field {f.name} names {f.type_name}, which the schema lacks")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


# --- encoding ------------------------------------------------------------------------------

def encode(schema: Schema, message: str, value: dict) -> bytes:
    """The protobuf bytes of ``value`` (a message in its JSON form)."""
    return _encode_message(schema, message, value, message.rsplit(".", 1)[-1], 0)


def _varint(n: int) -> bytes:
    n &= _MASK64
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _encode_message(schema: Schema, message: str, value: Any, path: str, depth: int) -> bytes:
    if depth > MAX_DEPTH:
        raise ValueError(f"{path}: nested deeper than {MAX_DEPTH}")
    if message == TIMESTAMP:
        seconds, nanos = _parse_timestamp(value, path)
        value = {"seconds": seconds, "nanos": nanos}
    elif not isinstance(value, dict):
        raise ValueError(f"{path}: expected an object")
    keys = schema.by_key[message]
    chosen: dict[int, tuple[Field, Any]] = {}
    seen: set[int] = set()
    oneofs: dict[str, str] = {}
    for key, item in value.items():
        field = keys.get(key) if isinstance(key, str) else None
        if field is None:
            raise ValueError(f"{path}.{key}: no such field in {message}")
        if field.number in seen:
            raise ValueError(f"{path}.{key}: field given twice")
        seen.add(field.number)
        if item is None:  # null: not set
            continue
        if field.oneof is not None:
            if field.oneof in oneofs:
                raise ValueError(f"{path}.{key}: {oneofs[field.oneof]} of the same oneof is set too")
            oneofs[field.oneof] = field.name
        chosen[field.number] = (field, item)
    out = []
    for number in sorted(chosen):
        field, item = chosen[number]
        where = f"{path}.{field.name}"
        if field.map:
            out.append(_encode_map(schema, field, item, where, depth))
        elif field.repeated:
            if not isinstance(item, (list, tuple)):
                raise ValueError(f"{where}: expected a list")
            if field.packed:
                if item:
                    body = b"".join(_scalar(schema, field, x, f"{where}[{i}]") for i, x in enumerate(item))
                    out += (field.packed_tag, _varint(len(body)), body)
            else:
                for i, x in enumerate(item):
                    if x is None:
                        raise ValueError(f"{where}[{i}]: null in a list")
                    out += (field.tag, _length_delimited(schema, field, x, f"{where}[{i}]", depth))
        elif field.type == "message" or field.wire == LEN:
            data = _length_delimited(schema, field, item, where, depth)
            if field.explicit or data != b"\x00":
                out += (field.tag, data)
        else:
            data = _scalar(schema, field, item, where)
            if field.explicit or data.strip(b"\x00"):
                out += (field.tag, data)
    return b"".join(out)


def _length_delimited(schema: Schema, field: Field, value: Any, path: str, depth: int) -> bytes:
    if field.type == "message":
        data = _encode_message(schema, field.type_name, value, path, depth + 1)
    elif field.type == "string":
        data = _text(value, path).encode("utf-8")
    else:
        data = _bytes(value, path)
    return _varint(len(data)) + data


def _encode_map(schema: Schema, field: Field, value: Any, path: str, depth: int) -> bytes:
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected an object")
    key_field, value_field = schema.fields[field.type_name]
    entries = []
    for key, item in value.items():
        where = f"{path}[{key}]"
        if key_field.type == "bool":
            if key not in ("true", "false"):
                raise ValueError(f"{where}: a bool key is true or false")
            key = key == "true"
        key_data = _scalar(schema, key_field, key, where) if key_field.wire != LEN \
            else _length_delimited(schema, key_field, key, where, depth)
        if item is None:
            raise ValueError(f"{where}: null map value")
        value_data = _scalar(schema, value_field, item, where) if value_field.wire != LEN \
            else _length_delimited(schema, value_field, item, where, depth)
        entry = key_field.tag + key_data + value_field.tag + value_data
        # upb's deterministic order: string keys byte by byte, a key before its own prefixes
        # ("ab" before "a"); numbers by value.
        order = tuple(key.encode("utf-8")) + (256,) if key_field.type == "string" else \
            key if key_field.type == "bool" else _integer(key, where)
        entries.append((order, field.tag + _varint(len(entry)) + entry))
    entries.sort(key=lambda e: e[0])
    return b"".join(e[1] for e in entries)


def _scalar(schema: Schema, field: Field, value: Any, path: str) -> bytes:
    kind = field.type
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{path}: expected true or false")
        return b"\x01" if value else b"\x00"
    if kind in ("float", "double"):
        number = _float(value, kind, path)
        if kind == "float":
            try:
                return _STRUCT["float"].pack(number)
            except OverflowError:  # as a C cast does: beyond the 32-bit range is infinite
                return _STRUCT["float"].pack(math.copysign(math.inf, number))
        return _STRUCT["double"].pack(number)
    if kind == "enum":
        number = schema.enum_numbers[field.type_name].get(value) if isinstance(value, str) else None
        if number is None:
            number = _integer(value, path, f"no value {value!r} in {field.type_name}")
    else:
        number = _integer(value, path)
    low, high = _RANGE[kind]
    if not low <= number <= high:
        raise ValueError(f"{path}: {number} is out of range for {kind}")
    if field.wire == VARINT:
        if kind in ("sint32", "sint64"):
            number = (number << 1) ^ (number >> 63)
        return _varint(number)
    return _STRUCT[kind].pack(number)


def _integer(value: Any, path: str, what: str = "expected an integer") -> int:
    if isinstance(value, bool):
        raise ValueError(f"{path}: {what}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and " " not in value:
        try:
            return int(value)
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if number.is_integer():
                return int(number)
    raise ValueError(f"{path}: {what}")


def _float(value: Any, kind: str, path: str) -> float:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: a number that is not finite is written as a string")
        if kind == "float" and abs(value) > _FLOAT_MAX:
            raise ValueError(f"{path}: too large for a float")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise ValueError(f"{path}: too large") from None
    if isinstance(value, str) and value != "nan":
        special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
        try:
            return special[value] if value in special else float(value)
        except ValueError:
            pass
    raise ValueError(f"{path}: expected a number")


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{path}: expected a string")
    if _UNPAIRED_SURROGATE.search(value):
        raise ValueError(f"{path}: unpaired surrogate")
    return value


def _bytes(value: Any, path: str) -> bytes:
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, (bytes, bytearray)):
        raise ValueError(f"{path}: expected base64 text")
    try:  # as json_format reads it: either alphabet, padding optional
        return base64.urlsafe_b64decode(bytes(value) + b"=" * (4 - len(value) % 4))
    except ValueError:
        raise ValueError(f"{path}: not base64") from None


def _parse_timestamp(value: Any, path: str) -> tuple[int, int]:
    match = _RFC3339.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{path}: expected an RFC 3339 time like 1970-01-01T00:00:00Z")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    try:
        moment = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    delta = moment - _EPOCH
    seconds = delta.days * 86400 + delta.seconds
    if not zulu:
        offset = (int(off_h) * 60 + int(off_m)) * 60
        seconds += -offset if sign == "+" else offset
    if not _SECONDS_MIN <= seconds <= _SECONDS_MAX:
        raise ValueError(f"{path}: time out of range")
    return seconds, int((fraction or "").ljust(9, "0"))


# --- decoding ------------------------------------------------------------------------------

def decode(schema: Schema, message: str, data: bytes) -> dict:
    """The JSON form of the protobuf bytes ``data``, a ``message``."""
    data = bytes(data)
    state: dict = {}
    _read_message(schema, message, data, 0, len(data), state, 0)
    return _to_json(schema, message, state, message.rsplit(".", 1)[-1])


def _read_varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    if pos < end:
        byte = data[pos]
        if byte < 0x80:
            return byte, pos + 1
    start = pos
    result = shift = 0
    while pos < end and pos - start < 10:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & _MASK64, pos
        shift += 7
    raise ValueError(f"{'truncated' if pos >= end else 'overlong'} varint at byte {start}")


def _read_length(data: bytes, pos: int, end: int) -> tuple[int, int]:
    start = pos
    length, pos = _read_varint(data, pos, end)
    if length > end - pos:
        raise ValueError(f"length {length} runs past the end of its message at byte {start}")
    return pos + length, pos


def _read_message(schema: Schema, message: str, data: bytes, pos: int, end: int, state: dict, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} at byte {pos}")
    by_number = schema.by_number[message]
    while pos < end:
        start = pos
        key, pos = _read_varint(data, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0 or key > 0xFFFFFFFF:
            raise ValueError(f"bad field number at byte {start}")
        field = by_number.get(number)
        if field is None or not (wire == field.wire or (wire == LEN and field.packed)):
            pos = _skip(data, pos, end, number, wire, start, depth)
            continue
        if wire == LEN:
            stop, pos = _read_length(data, pos, end)
            if field.packed:
                values = state.setdefault(number, [])
                while pos < stop:
                    value, pos = _read_scalar(field, data, pos, stop)
                    values.append(value)
                if pos != stop:
                    raise ValueError(f"packed values run past their length at byte {start}")
            elif field.type == "message":
                if field.map:
                    _read_map_entry(schema, field, data, pos, stop, state.setdefault(number, {}), depth)
                else:
                    if field.repeated:
                        sub: dict = {}
                        state.setdefault(number, []).append(sub)
                    else:
                        for other in field.siblings:  # a oneof keeps its last member
                            state.pop(other, None)
                        sub = state.setdefault(number, {})
                    _read_message(schema, field.type_name, data, pos, stop, sub, depth + 1)
            else:
                value = data[pos:stop]
                if field.type == "string":
                    try:
                        value = value.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise ValueError(f"bad UTF-8 in a string at byte {pos + exc.start}") from None
                _store(field, state, value)
            pos = stop
        else:
            value, pos = _read_scalar(field, data, pos, end)
            _store(field, state, value)


def _store(field: Field, state: dict, value: Any) -> None:
    if field.repeated:
        state.setdefault(field.number, []).append(value)
    else:
        for other in field.siblings:  # a oneof keeps its last member
            state.pop(other, None)
        state[field.number] = value


def _read_scalar(field: Field, data: bytes, pos: int, end: int) -> tuple[Any, int]:
    kind = field.type
    if field.wire == VARINT:
        raw, pos = _read_varint(data, pos, end)
        if kind == "bool":
            return raw != 0, pos
        if kind in ("int32", "enum"):
            raw &= 0xFFFFFFFF
            return raw - (1 << 32) if raw >> 31 else raw, pos
        if kind == "int64":
            return raw - (1 << 64) if raw >> 63 else raw, pos
        if kind == "uint32":
            return raw & 0xFFFFFFFF, pos
        if kind == "sint32":
            raw &= 0xFFFFFFFF
        if kind in ("sint32", "sint64"):
            return (raw >> 1) ^ -(raw & 1), pos
        return raw, pos  # uint64
    size = 8 if field.wire == I64 else 4
    if end - pos < size:
        raise ValueError(f"truncated {kind} at byte {pos}")
    return _STRUCT[kind].unpack_from(data, pos)[0], pos + size


def _skip(data: bytes, pos: int, end: int, number: int, wire: int, start: int, depth: int) -> int:
    """Past an unknown field's value; a group up to its own end tag."""
    if wire == VARINT:
        return _read_varint(data, pos, end)[1]
    if wire == LEN:
        return _read_length(data, pos, end)[0]
    if wire in (I64, I32):
        size = 8 if wire == I64 else 4
        if end - pos < size:
            raise ValueError(f"truncated field at byte {pos}")
        return pos + size
    if wire == SGROUP:
        if depth >= MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH} at byte {start}")
        while pos < end:
            inner = pos
            key, pos = _read_varint(data, pos, end)
            if key >> 3 == 0 or key > 0xFFFFFFFF:
                raise ValueError(f"bad field number at byte {inner}")
            if key & 7 == EGROUP:
                if key >> 3 != number:
                    raise ValueError(f"group ends with another field's end tag at byte {inner}")
                return pos
            pos = _skip(data, pos, end, key >> 3, key & 7, inner, depth + 1)
        raise ValueError(f"group without its end tag at byte {start}")
    raise ValueError(f"bad wire type {wire} at byte {start}")


def _read_map_entry(schema: Schema, field: Field, data: bytes, pos: int, end: int, entries: dict,
                    depth: int) -> None:
    key_field, value_field = schema.fields[field.type_name]
    entry: dict = {}
    _read_message(schema, field.type_name, data, pos, end, entry, depth + 1)
    key = entry.get(1, _default(key_field))
    if value_field.type == "message":
        value = entry.get(2, {})
    else:
        value = entry.get(2, _default(value_field))
    entries[key] = value


def _default(field: Field) -> Any:
    return {"string": "", "bytes": b"", "bool": False, "float": 0.0, "double": 0.0}.get(field.type, 0)


# --- the JSON form -------------------------------------------------------------------------

def _to_json(schema: Schema, message: str, state: dict, path: str) -> Any:
    if message == TIMESTAMP:
        return _format_timestamp(state.get(1, 0), state.get(2, 0), path)
    out: dict[str, Any] = {}
    for field in schema.fields[message]:
        if field.number not in state:
            continue
        value = state[field.number]
        where = f"{path}.{field.name}"
        if field.map:
            key_field, value_field = schema.fields[field.type_name]
            out[field.name] = {_map_key(k): _json_value(schema, value_field, v, f"{where}[{k}]")
                               for k, v in value.items()}
        elif field.repeated:
            if value:
                out[field.name] = [_json_value(schema, field, v, f"{where}[{i}]") for i, v in enumerate(value)]
        elif field.explicit or field.type == "message" or not _is_default(value):
            out[field.name] = _json_value(schema, field, value, where)
    return out


def _is_default(value: Any) -> bool:
    if isinstance(value, float):
        return value == 0.0 and math.copysign(1.0, value) > 0  # -0.0 is written (its bits are not zero)
    return not value


def _map_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _json_value(schema: Schema, field: Field, value: Any, path: str) -> Any:
    kind = field.type
    if kind == "message":
        return _to_json(schema, field.type_name, value, path)
    if kind == "enum":
        return schema.enum_names[field.type_name].get(value, value)
    if kind in _INT64:
        return str(value)
    if kind == "bytes":
        return base64.b64encode(value).decode("ascii")
    if kind in ("float", "double"):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return _shortest_float32(value) if kind == "float" else value
    return value


def _shortest_float32(value: float) -> float:
    """The shortest decimal that reads back as the same 32-bit float (as json_format writes it)."""
    pack = _STRUCT["float"]
    for precision in range(6, 18):
        rounded = float(f"{value:.{precision}g}")
        try:
            if pack.unpack(pack.pack(rounded))[0] == value:
                return rounded
        except OverflowError:
            continue
    return value


def _format_timestamp(seconds: int, nanos: int, path: str) -> str:
    if not _SECONDS_MIN <= seconds <= _SECONDS_MAX or not 0 <= nanos <= 999_999_999:
        raise ValueError(f"{path}: timestamp out of range ({seconds} s, {nanos} ns)")
    text = (_EPOCH + datetime.timedelta(seconds=seconds)).isoformat()
    if nanos == 0:
        return text + "Z"
    if nanos % 1_000_000 == 0:
        return f"{text}.{nanos // 1_000_000:03d}Z"
    if nanos % 1000 == 0:
        return f"{text}.{nanos // 1000:06d}Z"
    return f"{text}.{nanos:09d}Z"
