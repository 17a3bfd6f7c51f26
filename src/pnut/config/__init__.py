"""NUT's config files: one tokenizer-based reader, one module per file kind."""

from pnut.config.parser import ConfigError, ConfLine, confpath, parse_text, read_conf

__all__ = ["ConfLine", "ConfigError", "confpath", "parse_text", "read_conf"]
