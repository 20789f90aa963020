"""Campaign measurement science without Django: uplift statistics, power, uplift models, adaptive waves.

- `stats`: treatment against control for conversions and revenue, per variant and per breakdown group.
- `power`: the minimum detectable uplift before launch, and the holdout share a wanted uplift needs.
- `uplift`: meta-learners that predict each customer's incremental response, with Qini / AUUC evaluation.
- `bandit`: Thompson-sampling allocation of the next wave across variants, control kept fixed.
"""
