"""The bond: terms on the payment grid, the waterfall, investor and council metrics, PWLB."""
