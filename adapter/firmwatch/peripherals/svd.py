"""CMSIS-SVD files -> model.Device, through the ``cmsis-svd`` package (the ``svd`` extra).

Why cmsis-svd: it is the ecosystem's maintained parser (the cmsis-svd project, Apache-2.0),
light (lxml + six), parses every element we need (access, readAction, modifiedWriteValues,
enumeratedValues with usage, writeConstraint, dim/dimIndex, clusters, derivedFrom) and expands
dim arrays. SVDSuite is more faithful to SVDConv but needs Python 3.12 and pulls numpy through
rustworkx; pysvd (2022) rejects a plain-name enumeratedValues derivedFrom; svd2py has no dim.

cmsis-svd 0.6 has four gaps that real vendor files hit; we close them here rather than fork:
  1. ``enumeratedValues derivedFrom`` copies the children of each value, not the values:
     resolved before parsing (_resolve_enum_derivations).
  2. a derived register/cluster/field inherits nothing unless it repeats <description>:
     the source's description is filled in first, then cmsis-svd derives as usual.
  3. ``field derivedFrom="PERIPH.REG.FIELD"`` raises IndexError: resolved before parsing.
  4. nested clusters: each cluster relocates only its direct registers (by its own offset), so
     a register two clusters deep lacks the outer offset: _walk adds it (and stays right for the
     registers cmsis-svd did relocate). The test data in tests/data/svd exercise all four.
"""

from __future__ import annotations

import copy
import marshal
import os
from dataclasses import astuple
from typing import Any

from firmwatch.peripherals.model import Device, EnumValue, Field, Peripheral, PeripheralError, Register

MISSING_EXTRA = ("reading SVD files needs the svd extra: pip install 'firmwatch[svd]' "
                 "(it brings the cmsis-svd parser and lxml).")


class SvdError(PeripheralError):
    """An SVD file that cannot be used; ``str()`` says which file and why."""


CACHE_FORMAT = 1


def load_svd(path: str | os.PathLike[str], *, cache: bool = True) -> Device:
    """The device an SVD file describes. cmsis-svd takes seconds on a large vendor file (~1 s per
    10k fields), so the resolved model is cached beside the symbol index, keyed by the file's
    path, size and modification time: the next session (and the language server) start at once."""
    path = os.fspath(path)
    key = _cache_key(path) if cache else None
    if key is not None:
        hit = _read_cache(key)
        if hit is not None:
            return hit
    device = _parse(path)
    if key is not None:
        _write_cache(key, device)
    return device


def _parse(path: str) -> Device:
    try:
        from cmsis_svd.parser import SVDParser
        from lxml import etree
    except ImportError:
        raise SvdError(MISSING_EXTRA) from None
    try:
        tree = etree.parse(path, etree.XMLParser(remove_comments=True, resolve_entities=False))
    except OSError as e:
        raise SvdError(f"cannot read the SVD file {path} ({e}); check svdFile / --svd.") from None
    except etree.XMLSyntaxError as e:
        raise SvdError(f"{path} is not well-formed XML ({e}); give the device's CMSIS-SVD file.") from None
    root = tree.getroot()
    if root.tag != "device":
        raise SvdError(f"{path} is XML but not a CMSIS-SVD file (its root is <{root.tag}>, not <device>).")
    warnings: list[str] = []
    _fix_derivations(root, warnings)
    try:
        dev = SVDParser(tree).get_device()
    except Exception as e:  # noqa: BLE001 - the parser's errors are bare exceptions; name the file
        raise SvdError(f"the SVD parser could not read {path} ({type(e).__name__}: {e}).") from None
    return _to_model(dev, path, warnings)


# -- cache ---------------------------------------------------------------------------------------------------
def _cache_key(path: str) -> list[Any] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None  # _parse says why
    return [CACHE_FORMAT, os.path.abspath(path), st.st_size, st.st_mtime_ns]


def _cache_file(key: list[Any]) -> str:
    import hashlib

    from firmwatch.symbols.cache import cache_dir

    digest = hashlib.sha1(repr(key).encode()).hexdigest()[:24]
    return os.path.join(cache_dir(), "svd", f"{digest}.bin")


# plain tuples through marshal, as the symbol cache does: loads several times faster than JSON or pickle
def _read_cache(key: list[Any]) -> Device | None:
    try:
        with open(_cache_file(key), "rb") as f:
            stored_key, d = marshal.loads(f.read())
        if list(stored_key) != key:
            return None
        return _device_from(d)
    except (OSError, ValueError, EOFError, TypeError):
        return None  # no cache, or one from another version: parse again


def _write_cache(key: list[Any], device: Device) -> None:
    file = _cache_file(key)
    try:
        os.makedirs(os.path.dirname(file), exist_ok=True)
        tmp = f"{file}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(marshal.dumps((tuple(key), astuple(device))))
        os.replace(tmp, file)
    except OSError:
        pass  # a read-only cache only costs the next start the parse


def _device_from(d: tuple[Any, ...]) -> Device:
    name, ps, path, byteorder, warnings = d
    peripherals = []
    for pname, base, desc, group, regs, blocks in ps:
        registers = []
        for *head, fields in regs:
            fs = [Field(*f[:7], tuple(EnumValue(*e) for e in f[7]), tuple(f[8]) if f[8] else None) for f in fields]
            registers.append(Register(*head, fs))
        peripherals.append(Peripheral(pname, base, desc, group, registers, [tuple(b) for b in blocks]))
    return Device(name, peripherals, path, byteorder, list(warnings))


# -- pre-parse fixes (see the module docstring) -----------------------------------------------------------
def _text(node: Any, tag: str) -> str | None:
    child = node.find(tag)
    return child.text.strip() if child is not None and child.text else None


def _by_name(nodes: Any, name: str) -> Any:
    for n in nodes:
        if _text(n, "name") == name:
            return n
    return None


def _ancestor(node: Any, tag: str) -> Any:
    p = node.getparent()
    while p is not None and p.tag != tag:
        p = p.getparent()
    return p


def _fix_derivations(root: Any, warnings: list[str]) -> None:
    _resolve_enum_derivations(root, warnings)
    for f in root.iter("field"):
        src_path = f.get("derivedFrom")
        if not src_path:
            continue
        parts = src_path.split(".")
        src = None
        if len(parts) == 1:
            src = _by_name(f.getparent().findall("field"), parts[0])
        else:
            periph = _ancestor(f, "peripheral") if len(parts) == 2 else _by_name(root.iter("peripheral"), parts[0])
            reg = _by_name(periph.iter("register"), parts[-2]) if periph is not None else None
            src = _by_name(reg.iter("field"), parts[-1]) if reg is not None else None
        del f.attrib["derivedFrom"]
        if src is None:
            warnings.append(f"field {_text(f, 'name')}: derivedFrom='{src_path}' names no field; used as written.")
            continue
        have = {c.tag for c in f}
        for c in src:
            if c.tag not in have:
                f.append(copy.deepcopy(c))
    for tag in ("register", "cluster"):
        for node in root.iter(tag):
            src_path = node.get("derivedFrom")
            if not src_path or node.find("description") is not None:
                continue
            parts = src_path.split(".")
            if len(parts) == 1:
                src = _by_name(node.getparent().findall(tag), parts[0])
            else:
                periph = _by_name(root.iter("peripheral"), parts[0])
                src = _by_name(periph.iter(tag), parts[-1]) if periph is not None else None
            if src is None:
                warnings.append(f"{tag} {_text(node, 'name')}: derivedFrom='{src_path}' names no {tag}; "
                                "used as written.")
                del node.attrib["derivedFrom"]
                continue
            desc = src.find("description")
            node.append(copy.deepcopy(desc) if desc is not None else _element(node, "description", ""))


def _element(sibling: Any, tag: str, text: str) -> Any:
    e = sibling.makeelement(tag, {})
    e.text = text
    return e


def _resolve_enum_derivations(root: Any, warnings: list[str]) -> None:
    named = [ev for ev in root.iter("enumeratedValues") if _text(ev, "name")]
    for ev in root.iter("enumeratedValues"):
        src_path = ev.get("derivedFrom")
        if not src_path:
            continue
        name = src_path.split(".")[-1]
        candidates = [n for n in named if _text(n, "name") == name and n is not ev]
        # the nearest definition wins: same register, then same peripheral, then anywhere
        src = None
        for scope in ("register", "peripheral"):
            home = _ancestor(ev, scope)
            near = [n for n in candidates if _ancestor(n, scope) is home]
            if near:
                src = near[0]
                break
        src = src if src is not None else (candidates[0] if candidates else None)
        del ev.attrib["derivedFrom"]
        if src is None:
            warnings.append(f"enumeratedValues derivedFrom='{src_path}' names no enumeratedValues; ignored.")
            continue
        if ev.find("enumeratedValue") is None:
            for v in src.findall("enumeratedValue"):
                ev.append(copy.deepcopy(v))
        if ev.find("usage") is None and src.find("usage") is not None:
            ev.append(copy.deepcopy(src.find("usage")))


# -- cmsis-svd model -> ours --------------------------------------------------------------------------------
def _enum(v: Any) -> str | None:
    return None if v is None else str(getattr(v, "value", v))


def _to_model(dev: Any, path: str, warnings: list[str]) -> Device:
    byteorder = "little"
    if dev.cpu is not None and _enum(dev.cpu.endian) == "big":
        byteorder = "big"
    peripherals = []
    for p in dev.get_peripherals():
        base = p.base_address or 0
        out = Peripheral(p.name, base, _clean(p.description), p.group_name or "")
        for b in p.address_blocks or []:
            if _enum(b.usage) in (None, "registers") and b.size:
                out.blocks.append((base + (b.offset or 0), b.size))
        _walk(out, p.registers or [], base, "")
        out.registers.sort(key=lambda r: (r.address, r.path))
        peripherals.append(out)
    return Device(dev.name or os.path.basename(path), peripherals, path, byteorder, warnings)


def _walk(out: Peripheral, items: list[Any], outer: int, prefix: str, cluster_name: str | None = None) -> None:
    for item in items:
        kind = type(item).__name__
        if kind == "SVDRegister":
            out.registers.append(_register(out, item, outer, prefix, cluster_name))
        elif kind == "SVDRegisterArray":
            for r in item.registers:
                out.registers.append(_register(out, r, outer, prefix, cluster_name))
        elif kind == "SVDRegisterCluster":
            _cluster(out, item, outer, prefix)
        elif kind == "SVDRegisterClusterArray":
            for c in item.clusters:
                _cluster(out, c, outer, prefix)


def _cluster(out: Peripheral, c: Any, outer: int, prefix: str) -> None:
    # cmsis-svd already added c's offset to its direct registers (and renamed them C_REG)
    path = f"{prefix}{c.name}."
    _walk(out, c.registers, outer, path, c.name)
    _walk(out, c.clusters, outer + (c.address_offset or 0), path)


def _register(p: Peripheral, r: Any, outer: int, prefix: str, cluster_name: str | None) -> Register:
    name = r.name
    if cluster_name and name.startswith(cluster_name + "_"):
        name = name[len(cluster_name) + 1:]
    access = _enum(r.access) or "read-write"
    mwv = _enum(r.modified_write_values)
    reg = Register(p.name, prefix + name, outer + (r.address_offset or 0), r.size or 32, access,
                   _clean(r.description), r.reset_value or 0, _enum(r.read_action), mwv)
    for f in r.get_fields() if r.fields else []:
        if f.bit_offset is None or not f.bit_width:
            continue
        enums = []
        for group in f.enumerated_values or []:
            usage = _enum(group.usage) or "read-write"
            for e in group.enumerated_values:
                if e.name is None:
                    continue
                enums.append(EnumValue(e.name, None if e.is_default else e.value, _clean(e.description), usage))
        rng = None
        wc = f.write_constraint
        if wc is not None and wc.range is not None:
            rng = (wc.range.minimum, wc.range.maximum)
        reg.fields.append(Field(f.name, f.bit_offset, f.bit_width, _enum(f.access) or access, _clean(f.description),
                                _enum(f.read_action), _enum(f.modified_write_values) or mwv, tuple(enums), rng))
    reg.fields.sort(key=lambda f: -f.lsb)
    return reg


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())
