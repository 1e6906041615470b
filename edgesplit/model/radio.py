"""What a receiver makes of an SNR: 3GPP CQI efficiency steps reached through attenuated Shannon, noise figures.

Sources and their status are in docs/validation.md ("Radio") and /work/shared/REFERENCE_FIGURES.md section 4.
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass

# TS 38.214 clause 5.2.2.1, CQI efficiencies (bit/s/Hz) of CQI 1-15; CQI 0 is "out of range". CONFIRMED against
# the spec text in R1-2112947 (CR 0026 to TS 38.214 v16.7.0). The top entries equal the top of the PDSCH MCS tables
# 5.1.3.1-1 (5.5547) and 5.1.3.1-2 (7.4063) of the same spec.
CQI_EFFICIENCY: dict[str, tuple[float, ...]] = {
    # Table 5.2.2.1-2 (CQI table 1: QPSK, 16QAM, 64QAM).
    "64qam": (0.1523, 0.2344, 0.3770, 0.6016, 0.8770, 1.1758, 1.4766, 1.9141,
              2.4063, 2.7305, 3.3223, 3.9023, 4.5234, 5.1152, 5.5547),
    # Table 5.2.2.1-3 (CQI table 2: up to 256QAM).
    "256qam": (0.1523, 0.3770, 0.8770, 1.4766, 1.9141, 2.4063, 2.7305, 3.3223,
               3.9023, 4.5234, 5.1152, 5.5547, 6.2266, 6.9141, 7.4063),
}  # fmt: skip
# 64QAM by default: TS 38.214 clause 5.1.3.1 has the UE use MCS Table 5.1.3.1-1 (64QAM, top 5.5547 bit/s/Hz)
# unless higher layers set mcs-Table to 'qam256'; 256QAM is an option a cell turns on (mcs_table: 256qam).
DEFAULT_MCS_TABLE = "64qam"
# TR 36.942 Annex A.1 attenuated Shannon, SE = alpha log2(1 + SNR) for SNR >= SNIR_min (DL figures; SECONDARY:
# read in stored copies citing V19.0.0 Table A.1, not in the TR). Its 4.4 bit/s/Hz ceiling is replaced here by
# the CQI table's top. The UL alpha of that annex was not found: the DL figure is used for both directions.
ATTENUATION = 0.6
SNR_MIN_DB = -10.0
# Receiver noise figures. UE 9 dB: TR 36.942 Table 12.2 (SECONDARY, stored copy). gNB 5 dB: the figure usually
# quoted, no source read (UNCONFIRMED).
UE_NOISE_FIGURE_DB = 9.0
BS_NOISE_FIGURE_DB = 5.0
# Path loss stops falling below this distance: TR 38.901 Table 7.4.1-1 gives 10 m <= d2D <= 5 km for UMa and UMi
# (SECONDARY: stored copies of the table). The log-distance law otherwise grows without bound towards 0 m.
MIN_DISTANCE_M = 10.0


def db_to_linear(db: float) -> float:
    return 10.0 ** (db / 10.0)


@dataclass(frozen=True, slots=True)
class CqiSteps:
    """One CQI table's efficiency steps and the SNR each step needs.

    The rate a link gets is the highest CQI whose efficiency attenuated Shannon says the SNR supports: the
    efficiency of CQI i is reached at SNR_i = 2^(e_i / alpha) - 1 (and never below SNIR_min), mirroring TS 38.214
    clause 5.2.2.1, where the UE reports the highest CQI it could receive at a block error rate of at most 0.1.
    Below CQI 1's SNR the link carries nothing (CQI 0, out of range)."""

    efficiency: tuple[float, ...]  # bit/s/Hz, CQI 1 first
    snr: tuple[float, ...]  # linear SNR each CQI needs, increasing

    def __call__(self, snr: float) -> float:
        """Spectral efficiency (bit/s/Hz) at linear SNR `snr`."""
        i = bisect.bisect_right(self.snr, snr)
        return self.efficiency[i - 1] if i else 0.0

    @property
    def top(self) -> float:
        return self.efficiency[-1]

    def needed_db(self, cqi: int = 1) -> float:
        """SNR in dB that CQI `cqi` (1-15) needs."""
        return 10.0 * math.log10(self.snr[cqi - 1])


@functools.cache
def cqi_steps(table: str = DEFAULT_MCS_TABLE, attenuation: float = ATTENUATION) -> CqiSteps:
    """The steps of CQI table `table` ("64qam" | "256qam") under attenuated Shannon with factor `attenuation`."""
    efficiency = CQI_EFFICIENCY[table]
    floor = db_to_linear(SNR_MIN_DB)
    return CqiSteps(efficiency, tuple(max(2.0 ** (e / attenuation) - 1.0, floor) for e in efficiency))
