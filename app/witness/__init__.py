"""The witness outside the station: `chairside witness` keeps every station's signed journal anchors
(from the floor's broker) in its own append-only database; `chairside verify --witness` checks a
journal against them."""
