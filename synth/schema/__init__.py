"""The table's public description: metadata, its checks against a DataFrame, the visit-sequence
layout and the inequalities between columns. Everything here is public (or marked private,
``"range_public": false``); nothing here releases anything."""
