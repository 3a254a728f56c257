"""What a run is asked to do: the config, checked and typed.

config/schema.yaml (JSON schema, with every default) is the one source of truth for settings;
``sections`` loads it once and turns each validated config section into a frozen dataclass
(AugmentSettings, DataSettings, ...), ``settings`` checks what a schema cannot express (values
that must agree across sections, paths that must exist), and ``schema_docs`` writes
config/README.md from the schema. Every other package takes its settings from here, never from
the raw dict.
"""
