"""Sources beyond the TOML config: the encrypted source registry (registry.py, keys.py),
credential validation and schema reading (validate.py), and the operations the CLI and the HTTP
API share (manage.py)."""
