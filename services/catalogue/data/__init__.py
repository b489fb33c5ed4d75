"""Demo data files shipped with the catalogue (a package so wheels carry the CSV and JSON)."""
