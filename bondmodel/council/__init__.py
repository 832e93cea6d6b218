"""Council finance: the bond and its alternatives as a council's budget and the Prudential
Code see them (issue 17).

- :mod:`bondmodel.council.mrp`: minimum revenue provision by the methods of the statutory
  guidance.
- :mod:`bondmodel.council.budget`: the General Fund effect by financial year, its Band D
  council-tax equivalent, and the reserves to hold until the savings arrive.
- :mod:`bondmodel.council.prudential`: the capital financing requirement and the
  Prudential Code indicators.

Every function works on arrays by financial year (element 0 the first year) and is
pure: the routes comparison, the workbook and the reference tests all call the same ones.
Equations and sources: docs/methodology.md, section 23.
"""
