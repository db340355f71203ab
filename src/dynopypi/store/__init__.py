"""Where package files are kept: the storage contract (``base``), one package per store
(``directory``, ``bucket``), and ``copy`` between any two.

``base`` is what both stores implement and what the layers above read through (``Storage``,
``Reader``, ``FileRange``). The two stores never import each other; only ``copy`` knows both.
"""
