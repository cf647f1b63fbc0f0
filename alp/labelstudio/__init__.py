"""Label Studio integration: SDK wrapper (``client``), the ONE pure JSON mapping module
(``mapping``) and the service logic (``connect``, ``push``, ``sync``)."""
