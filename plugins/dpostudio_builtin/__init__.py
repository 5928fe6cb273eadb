"""DPO Studio's first-party plugins: dataset sources, model sources and a local judge.

They are registered through the ``dpostudio`` entry-point group in DPO Studio's own ``pyproject.toml``,
exactly like community plugins, so they prove the public hooks are enough.
"""
