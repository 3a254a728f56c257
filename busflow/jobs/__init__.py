"""The workflow rules' entry points, one module per rule (or per kind of rule).

Each reads the rule's files, calls the library and writes the rule's files, so a script in
scripts/ only unpacks ``snakemake``. Nothing in busflow imports from here: a rule's code inputs
(busflow.code_closure) are then its own job and the library it uses, not every other rule's.
"""
