"""A small gazetteer: countries, regions and well-known cities, lower-cased.

A capitalised name found here is a place wherever it stands ("How did Porto
go?"); any other place is recognised only from its context (after "in",
"near", "from", ..., or a word such as "Palace" or "Hill").
"""

from __future__ import annotations

_COUNTRIES = """
afghanistan albania algeria argentina armenia australia austria azerbaijan bangladesh belgium
bolivia bosnia brazil bulgaria cambodia cameroon canada chile china colombia croatia cuba
cyprus czechia denmark ecuador egypt england estonia ethiopia finland france georgia germany
ghana greece hungary iceland india indonesia iran iraq ireland israel italy jamaica japan
jordan kazakhstan kenya korea kosovo latvia lebanon lithuania luxembourg malaysia malta mexico
moldova mongolia montenegro morocco nepal netherlands holland nigeria norway pakistan panama
paraguay peru philippines poland portugal qatar romania russia rwanda scotland senegal serbia
singapore slovakia slovenia somalia spain sudan sweden switzerland syria taiwan tanzania
thailand tunisia turkey uganda ukraine uruguay uzbekistan venezuela vietnam wales yemen zambia
zimbabwe america usa uk britain europe asia africa antarctica oceania scandinavia bavaria
tuscany sicily sardinia crete corsica cornwall yorkshire devon kent normandy provence
catalonia andalusia algarve california texas florida alaska hawaii ontario quebec
"""

_CITIES = """
london paris berlin hamburg munich cologne frankfurt stuttgart dresden leipzig bremen hanover
kiel lubeck düsseldorf dusseldorf vienna zurich geneva basel bern amsterdam rotterdam utrecht
brussels antwerp ghent bruges copenhagen stockholm oslo helsinki reykjavik dublin belfast
edinburgh glasgow cardiff manchester liverpool birmingham leeds bristol oxford cambridge
brighton york bath newcastle sheffield nottingham leicester norwich exeter madrid barcelona
valencia seville malaga bilbao granada lisbon porto sintra faro coimbra rome milan naples
venice florence turin bologna genoa palermo athens thessaloniki istanbul ankara prague brno
warsaw krakow gdansk budapest bucharest sofia belgrade zagreb ljubljana bratislava tallinn
riga vilnius kyiv kiev moscow tokyo kyoto osaka nara sapporo yokohama hiroshima seoul busan
beijing shanghai hong kong taipei bangkok hanoi singapore jakarta bali manila delhi mumbai
bangalore chennai kolkata karachi lahore dhaka kathmandu colombo dubai doha tehran jerusalem
cairo marrakesh casablanca lagos abuja accra nairobi addis johannesburg cape durban sydney
melbourne brisbane perth adelaide auckland wellington toronto vancouver montreal ottawa
calgary boston chicago seattle portland denver austin dallas houston atlanta miami orlando
phoenix vegas detroit philadelphia washington baltimore pittsburgh nashville
"""

GAZETTEER = frozenset((_COUNTRIES + _CITIES).split()) | frozenset(
    {
        "new york",
        "los angeles",
        "san francisco",
        "san diego",
        "new zealand",
        "south africa",
        "hong kong",
        "rio de janeiro",
        "buenos aires",
        "mexico city",
        "new delhi",
        "cape town",
        "the netherlands",
        "united states",
        "united kingdom",
        "sri lanka",
        "costa rica",
    }
)
