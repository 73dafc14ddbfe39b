"""Origins: an ABC `O:` (German or English, country or region) as an English place name.

The first country named in the text wins; a region only when no country is named. Table keys are
folded text (accents off, lower case, hyphen joins removed).
"""

from __future__ import annotations

import re
from functools import lru_cache

from symcorpus.music.labels.folding import fold_joined

COUNTRIES: dict[str, str] = {
    "deutschland": "Germany", "germany": "Germany", "german": "Germany", "brd": "Germany",
    "ddr": "Germany", "norddeutschland": "Germany", "sueddeutschland": "Germany",
    "frankreich": "France", "france": "France", "french": "France",
    "irland": "Ireland", "ireland": "Ireland", "irish": "Ireland", "eire": "Ireland",
    "schottland": "Scotland", "scotland": "Scotland", "scotch": "Scotland", "scottish": "Scotland",
    "scots": "Scotland", "highland": "Scotland", "highlands": "Scotland",
    "england": "England", "english": "England",
    "wales": "Wales", "welsh": "Wales", "welch": "Wales",
    "oesterreich": "Austria", "osterreich": "Austria", "austria": "Austria", "austrian": "Austria",
    "schweiz": "Switzerland", "switzerland": "Switzerland", "swiss": "Switzerland",
    "niederlande": "Netherlands", "netherlands": "Netherlands", "holland": "Netherlands",
    "dutch": "Netherlands",
    "belgien": "Belgium", "belgium": "Belgium",
    "luxemburg": "Luxembourg", "luxembourg": "Luxembourg",
    "polen": "Poland", "poland": "Poland", "polish": "Poland",
    "ungarn": "Hungary", "hungary": "Hungary", "hungarian": "Hungary",
    "tschechoslowakei": "Czechoslovakia", "czechoslovakia": "Czechoslovakia",
    "slowakei": "Slovakia", "slovakia": "Slovakia",
    "rumaenien": "Romania", "rumanien": "Romania", "romania": "Romania",
    "jugoslawien": "Yugoslavia", "yugoslavia": "Yugoslavia",
    "kroatien": "Croatia", "croatia": "Croatia", "slowenien": "Slovenia", "slovenia": "Slovenia",
    "serbien": "Serbia", "serbia": "Serbia", "bulgarien": "Bulgaria", "bulgaria": "Bulgaria",
    "griechenland": "Greece", "greece": "Greece",
    "italien": "Italy", "italy": "Italy", "italian": "Italy",
    "spanien": "Spain", "spain": "Spain", "spanish": "Spain",
    "portugal": "Portugal",
    "schweden": "Sweden", "sweden": "Sweden", "swedish": "Sweden",
    "norwegen": "Norway", "norway": "Norway", "norwegian": "Norway",
    "daenemark": "Denmark", "danemark": "Denmark", "denmark": "Denmark", "danish": "Denmark",
    "finnland": "Finland", "finland": "Finland",
    "russland": "Russia", "russia": "Russia", "russian": "Russia",
    "udssr": "Soviet Union", "ussr": "Soviet Union", "sowjetunion": "Soviet Union",
    "ukraine": "Ukraine",
    "china": "China", "chinese": "China", "taiwan": "Taiwan", "japan": "Japan", "korea": "Korea",
    "indien": "India", "india": "India",
    "mexiko": "Mexico", "mexico": "Mexico",
    "usa": "United States", "united states": "United States", "american": "United States",
    "virginian": "United States", "virginia": "United States",
    "kanada": "Canada", "canada": "Canada",
    "west india": "West Indies", "west indies": "West Indies", "west indian": "West Indies",
    "jamaica": "Jamaica", "israel": "Israel", "tuerkei": "Turkey", "turkey": "Turkey",
}
REGIONS: dict[str, str] = {
    "lothringen": "Lorraine", "lorraine": "Lorraine", "elsass": "Alsace", "alsace": "Alsace",
    "schlesien": "Silesia", "boehmen": "Bohemia", "bohmen": "Bohemia", "maehren": "Moravia",
    "tirol": "Tyrol", "suedtirol": "Tyrol", "siebenbuergen": "Transylvania", "galizien": "Galicia",
    "gottschee": "Gottschee", "bessarabien": "Bessarabia", "flandern": "Flanders",
    "flaemisch": "Flanders", "ostpreussen": "East Prussia", "sudetenland": "Sudetenland",
    "bukowina": "Bukovina", "banat": "Banat", "brittany": "Brittany", "cornwall": "Cornwall",
    "shetland": "Shetland", "northumberland": "Northumberland", "northumbrian": "Northumberland",
}
ORIGINS: tuple[str, ...] = tuple(sorted(set(COUNTRIES.values()) | set(REGIONS.values())))


def _find_place(text: str) -> str | None:
    # Try each comma/semicolon/slash-separated part whole, then its words and word pairs, in order:
    # the first country wins; a region only when no country is named.
    region = None
    for part in re.split(r"[,;/()\[\]]", fold_joined(text)):
        words = re.findall(r"[a-z]+", part)
        pairs = [" ".join(words[i : i + 2]) for i in range(len(words) - 1)]
        for candidate in [" ".join(words)] + pairs + words:
            if candidate in COUNTRIES:
                return COUNTRIES[candidate]
            if region is None and candidate in REGIONS:
                region = REGIONS[candidate]
    return region


@lru_cache(maxsize=16384)
def origin_of(text: str | None) -> str | None:
    """ABC `O:` (German or English, country or region) as an English place name, or None."""
    return _find_place(text) if text and text.strip() else None
