"""Closed word lists the rules read: kinship, occupations, place and organisation words.

Data only, written as space-separated strings and read once at import; no logic
beyond splitting them. Each list is small and hand-kept: what is not here is not
recognised, which ``docs/extraction.md`` spells out.
"""

from __future__ import annotations

from types import MappingProxyType


def words(text: str) -> frozenset[str]:
    """A frozen set of the whitespace-separated words of ``text``."""
    return frozenset(text.split())


def phrases(text: str) -> tuple[str, ...]:
    """The "|"-separated phrases of ``text``, in order."""
    return tuple(p.strip() for p in text.split("|") if p.strip())


def ordered(text: str) -> tuple[str, ...]:
    """The whitespace-separated words of ``text``, in order."""
    return tuple(text.split())


def pairs(text: str) -> MappingProxyType[str, str]:
    """A read-only mapping from "key:value" words."""
    return MappingProxyType(dict(item.split(":", 1) for item in text.split()))


def _kinship(text: str) -> MappingProxyType[str, tuple[str, str]]:
    entries = (item.split(":") for item in ordered(text))
    return MappingProxyType({noun: (predicate, gender) for noun, predicate, gender in entries})


# kinship and role noun -> (relation predicate, gender of the relative: "m", "f" or "")
KINSHIP = _kinship(
    """daughter:has_daughter:f son:has_son:m child:has_child: kid:has_child:
    grandson:has_grandson:m granddaughter:has_granddaughter:f grandchild:has_grandchild:
    sister:has_sister:f brother:has_brother:m husband:has_husband:m wife:has_wife:f
    partner:has_partner: boyfriend:has_partner:m girlfriend:has_partner:f fiance:has_partner:m
    fiancee:has_partner:f mum:has_mother:f mom:has_mother:f mother:has_mother:f
    dad:has_father:m father:has_father:m grandmother:has_grandmother:f
    grandma:has_grandmother:f granny:has_grandmother:f grandfather:has_grandfather:m
    grandpa:has_grandfather:m aunt:has_aunt:f uncle:has_uncle:m niece:has_niece:f
    nephew:has_nephew:m cousin:has_cousin: friend:friend_of: neighbour:neighbour_of:
    neighbor:neighbour_of: teacher:has_teacher: colleague:colleague_of: boss:has_boss:"""
)

# A second name for a kinship description: "Jonas's dad" is also "Jonas's father".
KIN_SYNONYMS = pairs(
    """dad:father father:dad mum:mother mom:mother mother:mum
        grandma:grandmother granny:grandmother grandpa:grandfather kid:child"""
)

PETS = words("cat dog puppy kitten rabbit hamster horse parrot budgie tortoise turtle pony")

# Things people name ("the bakery ... It's called Rise & Shine"); the first set are organisations.
ORG_NAMEABLE = words(
    "bakery shop store business company cafe café restaurant band club podcast blog stall "
    "brand startup studio channel"
)
NAMEABLE = ORG_NAMEABLE | words("boat house cabin")

# Last word of a capitalised name that makes it an organisation.
ORG_SUFFIXES = words(
    """primary school academy college university institute inc ltd llc gmbh plc corp
    corporation company co band club society council bank group foundation trust orchestra
    choir fc association agency ministry hospital clinic library museum"""
)

# Last word of a capitalised name that makes it a place.
PLACE_SUFFIXES = words(
    """palace hill hills park lake river street road avenue lane square bridge castle garden
    gardens beach mountain mountains valley island islands airport cathedral church bay
    forest city town village county state coast harbour harbor falls"""
)

# First word of a capitalised name that makes it a person (with a gender) or a place.
PERSON_TITLES = MappingProxyType(
    {"mr": "m", "mrs": "f", "ms": "f", "miss": "f", "dr": "", "prof": "", "professor": ""}
)
PLACE_PREFIXES = words("st saint mount mt lake fort port")

# Lower-case institutions worth keeping as entities ("the children's hospital").
INSTITUTIONS = MappingProxyType(
    {
        **dict.fromkeys(
            phrases("hospital|library|school|shelter|clinic|office|fire station|fire service"),
            "organization",
        ),
        **dict.fromkeys(phrases("community centre|community center"), "place"),
        "market": "event",
    }
)

EVENT_NOUNS = words(
    """marathon wedding festival concert recital conference show market party race match
    tournament fair exhibition ceremony gala parade championship cup half-marathon triathlon
    derby olympics summit meetup"""
)

INSTRUMENTS = words(
    """piano cello violin viola guitar bass drums flute clarinet saxophone sax trumpet
    trombone harp ukulele banjo organ keyboard oboe bassoon accordion harmonica mandolin"""
)
SPORTS = words(
    """tennis football soccer rugby cricket golf basketball baseball hockey volleyball
    badminton squash chess netball handball padel"""
)

OCCUPATIONS = words(
    """nurse teacher doctor surgeon physiotherapist physio cardiologist dentist vet engineer
    developer programmer designer architect lawyer solicitor accountant chef cook baker butcher
    farmer gardener firefighter fireman officer policeman detective pilot driver mechanic
    electrician plumber carpenter builder painter writer author journalist editor
    photographer artist musician singer actor actress dancer player student researcher
    scientist biologist chemist physicist professor lecturer librarian pharmacist paramedic
    midwife therapist counsellor psychologist manager director consultant analyst cleaner
    waiter waitress barista shopkeeper salesman saleswoman receptionist secretary neighbour
    neighbor coach trainer tutor translator priest vicar soldier sailor fisherman fishmonger
    carer volunteer retiree pensioner entrepreneur founder owner landlord veterinarian
    optician historian economist ranger"""
)
# "nursing job" -> nurse
JOB_ADJECTIVES = pairs(
    """nursing:nurse teaching:teacher engineering:engineer cooking:cook
        baking:baker coding:programmer programming:programmer design:designer
        accounting:accountant research:researcher"""
)

WEEKDAYS = ordered("monday tuesday wednesday thursday friday saturday sunday")
MONTHS = ordered(
    """january february march april may june july august september october november
    december"""
)

# Words after "I"/"you" that are adverbs, not the verb to inflect.
ADVERBS = words(
    """still also just really finally only never always often usually sometimes mostly
    almost actually already even now then recently nearly probably definitely certainly
    currently honestly basically seriously totally completely somehow rarely kind sort
    ever once"""
)
AUXILIARIES = words(
    """am is are was were be been being have has had do does did will would can could
    should shall must might may wo ca"""
)
# Irregular past forms (and unchanged forms) that must not take a third-person -s.
PAST_FORMS = words(
    """went got made gave took saw ran came had did was were said told thought bought brought
    built felt found kept left lost met paid put read sent sold spent stood taught won wore
    wrote swam drove ate began broke chose drank fell flew forgot grew hung knew let lit rode
    rang rose sang sat slept spoke stole struck threw understood woke hit cut set quit shut
    cost hurt heard held led meant caught fought sought dug fed bled bent lent dealt burnt
    learnt spelt spilt dreamt became forgave froze hid shook withdrew used"""
)
PARTICIPLES = words(
    """been seen gone done had known taken given got gotten made said told thought found
    left lost met paid put read sent sold spent taught won written driven eaten begun broken
    chosen fallen flown forgotten grown hung let ridden risen sung slept spoken stolen
    thrown understood woken heard held kept brought bought built felt become never"""
)

# Verbs that open an imperative (a request, not a statement).
IMPERATIVE_STARTS = words(
    """bring give make tell let come go try take look see send call check keep remember
    don't please imagine guess wait stop listen say ask"""
)

# Whole reactions that carry no information about anyone.
FILLER_STARTS = phrases(
    """good for|congratulations|congrats|thanks|thank you|sounds|lucky you|whatever|oh no|
    no way|wow|aw|ha|haha|well done|good man|good luck|what a|how lovely|so glad|sorry|
    of course|fair enough|me too|same here|nice|great|cool|okay|ok|sure|hey|hi|hello|
    morning|good morning|evening|bye"""
)

# Capitalised words that open sentences but are not names.
COMMON_CAPITALISED = words(
    """a an the and but or so if then when while because since until after before as though
    although also yes no not maybe perhaps well oh ah ha hey hi hello thanks thank please
    sorry okay ok sure good great nice wow what who whom whose which where why how this that
    these those there here it its he she they we you i me my your his her their our us them
    him one two three four five six seven eight nine ten eleven twelve twenty thirty forty
    fifty sixty seventy eighty ninety hundred first second third last next only just still
    even very much many more most some any all every each both either neither none nothing
    something anything everything someone anyone everyone nobody with without for from in on
    at to of by about over under into onto out up down off back again ever never always often
    sometimes usually today tonight tomorrow yesterday now soon later already morning evening
    afternoon night week weekend month year day time long short big small little old new
    young happy sad strict like love speaking news legendary incredible amazing brilliant
    lovely wonderful awful terrible fantastic remarkable smart lucky barely slowly obviously
    mostly nervous whatever congratulations dear do does did is
    are was were am be been have has had will would can could should must might may shall
    let lets give make bring tell take keep look see send call try go come get got"""
)

# Prepositions after which a capitalised name is (weakly) a place.
PLACE_PREPOSITIONS = words(
    "in at near from along below above around outside inside across up via through into"
)
TRAVEL_VERBS = words(
    """go goes going went gone moved move moving travel travelled traveled travelling flew
    fly flying drove drive trip back way came come coming return returned returning
    headed heading emigrated relocated"""
)
