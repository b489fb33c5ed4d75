"""Rule data shipped with the credit bank (a package so wheels carry the JSON)."""
