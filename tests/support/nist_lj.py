"""NIST's Lennard-Jones reference table (data/nist_lj_srsw.csv, its source in the file's header)."""
import csv
from pathlib import Path

TABLE = Path(__file__).resolve().parents[2] / "data" / "nist_lj_srsw.csv"


def nist_row(density: float, temperature: float) -> dict:
    """The table's row at ``density`` and ``temperature`` (strings, as the CSV holds them)."""
    with open(TABLE) as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return next(r for r in rows if float(r["density"]) == density and float(r["temperature"]) == temperature)
