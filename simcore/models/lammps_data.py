"""Read positions and velocities from a LAMMPS data file (``write_data``, atom_style atomic).

Only what a start configuration needs: the atom count, a cubic periodic box
(``xlo xhi`` ...), the ``Atoms`` section (``id type x y z [ix iy iz]``) and
the ``Velocities`` section (``id vx vy vz``).  Atoms are returned in id
order, positions shifted so the box starts at 0.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .base import fold_into_box


class Configuration(NamedTuple):
    """Atoms of a start file: positions (N, 3) in [0, box), velocities (N, 3), cubic box side."""

    positions: np.ndarray
    velocities: np.ndarray
    box: float


_SECTIONS = ("Atoms", "Velocities", "Masses", "Pair Coeffs", "Bonds", "Angles")


@functools.lru_cache(maxsize=4)
def read_data(path: str) -> Configuration:
    """The configuration in LAMMPS data file ``path``; ValueError (one sentence) if it is not one we can use."""
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"start_file {path!r} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    header, sections = _split(lines)
    try:
        atoms = int(header["atoms"][0])
        bounds = [tuple(float(v) for v in header[f"{axis}lo {axis}hi"][:2]) for axis in "xyz"]
    except (KeyError, ValueError, IndexError):
        raise ValueError(f"start_file {path!r} is not a LAMMPS data file (no 'atoms' count or box bounds)") from None
    if any(float(v) != 0.0 for v in header.get("xy xz yz", [])):
        raise ValueError(f"start_file {path!r}: the box is triclinic; only a cubic box is supported")
    masses = {float(row[1]) for row in sections.get("Masses", []) if len(row) > 1}
    if masses - {1.0}:
        raise ValueError(f"start_file {path!r}: every mass must be 1 (reduced units; got {sorted(masses)})")
    sides = [hi - lo for lo, hi in bounds]
    if max(sides) - min(sides) > 1e-9 * max(sides) or min(sides) <= 0:
        raise ValueError(f"start_file {path!r}: the box must be cubic (sides {sides})")
    positions = _table(sections, "Atoms", atoms, path, columns=(2, 3, 4))
    velocities = _table(sections, "Velocities", atoms, path, columns=(1, 2, 3))
    origin = np.array([lo for lo, _ in bounds])
    box = sides[0]
    return Configuration(fold_into_box(positions - origin, box), velocities, box)


def _split(lines: list[str]) -> tuple[dict[str, list[str]], dict[str, list[list[str]]]]:
    """Header keywords (e.g. 'atoms', 'xlo xhi') -> values, and section name -> rows of fields."""
    header: dict[str, list[str]] = {}
    sections: dict[str, list[list[str]]] = {}
    current = None
    for raw in lines[1:]:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line in _SECTIONS:
            current = sections.setdefault(line, [])
            continue
        fields = line.split()
        if current is None:
            numbers = [f for f in fields if _is_number(f)]
            header[" ".join(fields[len(numbers):])] = numbers
        else:
            current.append(fields)
    return header, sections


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _table(sections, name: str, atoms: int, path: str, columns: tuple[int, ...]) -> np.ndarray:
    rows = sections.get(name)
    if rows is None or len(rows) != atoms:
        raise ValueError(f"start_file {path!r}: section {name} must list all {atoms} atoms")
    try:
        ids = np.array([int(row[0]) for row in rows])
        values = np.array([[float(row[c]) for c in columns] for row in rows])
    except (ValueError, IndexError):
        raise ValueError(f"start_file {path!r}: a line of section {name} is malformed") from None
    if sorted(ids.tolist()) != list(range(1, atoms + 1)):
        raise ValueError(f"start_file {path!r}: section {name} must hold atom ids 1..{atoms} once each")
    return values[np.argsort(ids)]
