"""The shared-services marketplace: which councils should share which services, and how.

``bondmodel match`` reads a register of councils (:mod:`.register`), prices every
candidate partnership with the scale economics of each service line
(:mod:`.economics`, cited data, overridable), ranks the groups exhaustively or by a
documented heuristic (:mod:`.search`), splits each group's value by several rules with
a core check (:mod:`.shares`), and writes the best groups as ready-to-run scenarios
(:mod:`.write`). The equations are in ``docs/methodology.md``, section 25.
"""
