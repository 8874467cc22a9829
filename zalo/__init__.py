"""The Zalo Official Account channel: the signed webhook's intake and inbox worker
(`webhook`), a thin async client of the OA and ZNS APIs (`client`), token rotation
(`tokens`), and the contract facts they rely on, with their sources (`contract`).

An adapter at the edge: it imports calllog and routing, never the console; the
console process serves its webhook through `hotline.console_wiring`.
"""
