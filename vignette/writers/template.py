"""The template story writer: offline, deterministic for a seed, and varied."""

from __future__ import annotations

import random
from dataclasses import dataclass

from vignette.errors import InvalidStory
from vignette.records import StoryDraft


@dataclass(frozen=True)
class _Complaint:
    summary: str  # what brought them in, as the title says it
    detail: str  # how the narrative tells it
    min_age: int = 18
    max_age: int = 90


_COMPLAINTS: dict[str, tuple[_Complaint, ...]] = {
    "cardiology": (
        _Complaint(
            "chest tightness on exertion",
            "a band of tightness across the chest that "
            "comes on climbing stairs and eases with rest",
            45,
            88,
        ),
        _Complaint(
            "palpitations",
            "episodes of a racing, fluttering heartbeat that arrive "
            "without warning and leave {them} light-headed",
            25,
            85,
        ),
        _Complaint(
            "swollen ankles and breathlessness",
            "ankles that swell by evening and a breathlessness that now wakes {them} at night",
            55,
            90,
        ),
    ),
    "respiratory": (
        _Complaint(
            "a cough that will not settle",
            "a dry cough that has lingered for six weeks since a cold, worse at night",
            18,
            85,
        ),
        _Complaint(
            "wheeze in cold air",
            "a whistling wheeze and tight chest whenever {they} step{s} out into cold morning air",
            16,
            70,
        ),
    ),
    "neurology": (
        _Complaint(
            "new headaches",
            "headaches that began a month ago, worst on waking and "
            "unlike anything {they} {have} had before",
            20,
            80,
        ),
        _Complaint(
            "a tremor in one hand",
            "a fine tremor in the right hand that shows when {they} hold{s} a cup or "
            "sign{s} {their} name",
            50,
            88,
        ),
    ),
    "paediatrics": (
        _Complaint(
            "a fever that keeps returning",
            "fevers that come back every few days, "
            "with a tiredness that keeps {them} home from school",
            4,
            15,
        ),
        _Complaint(
            "tummy aches before school",
            "tummy aches most weekday mornings that fade by the afternoon",
            6,
            14,
        ),
    ),
    "general": (
        _Complaint(
            "tiredness that sleep does not fix",
            "a heavy tiredness for three months that a full night's sleep does not touch",
            18,
            85,
        ),
        _Complaint(
            "unplanned weight loss",
            "clothes that have grown loose over the winter without any change in how {they} eat{s}",
            30,
            88,
        ),
        _Complaint(
            "a painful knee",
            "a knee that aches after walking the dog and stiffens after sitting",
            35,
            85,
        ),
        _Complaint(
            "trouble sleeping",
            "nights of lying awake since a change at work, and days that feel foggy",
            20,
            75,
        ),
    ),
}
TOPICS = tuple(sorted(_COMPLAINTS))

_FIRST_NAMES = (
    ("Amara", "woman"),
    ("Tomasz", "man"),
    ("Mei", "woman"),
    ("Kwame", "man"),
    ("Siobhan", "woman"),
    ("Rahul", "man"),
    ("Lucia", "woman"),
    ("Yusuf", "man"),
    ("Ingrid", "woman"),
    ("Mateo", "man"),
    ("Aiko", "woman"),
    ("Daniel", "man"),
    ("Fatima", "woman"),
    ("Oluwaseun", "man"),
    ("Eleni", "woman"),
    ("Hemi", "man"),
)
_FAMILY_NAMES = (
    "Okafor",
    "Nowak",
    "Chen",
    "Mensah",
    "Byrne",
    "Sharma",
    "Alvarez",
    "Haddad",
    "Lindqvist",
    "Rossi",
    "Tanaka",
    "Cohen",
    "Rahman",
    "Adeyemi",
    "Papadopoulos",
    "Walker",
)
_SETTINGS = (
    ("a busy urban emergency department", "a curtained cubicle in a busy emergency department"),
    ("a rural general practice", "a small, sunlit consulting room of a rural clinic"),
    ("a hospital outpatient clinic", "a quiet outpatient waiting area with wooden chairs"),
    ("a community health centre", "a bright community health centre with plants by the window"),
    ("a home visit", "an armchair at home, family photos on the wall behind"),
)
# What a patient does, by the ages it suits (from, to).
_WORK = (
    ("a retired schoolteacher", 62, 90),
    ("a retired postal worker", 62, 90),
    ("a volunteer at the local library", 60, 90),
    ("a bus driver", 25, 66),
    ("a nurse on night shifts", 23, 66),
    ("a carpenter", 20, 70),
    ("a university student", 16, 26),
    ("an apprentice electrician", 16, 24),
    ("a shop owner", 28, 75),
    ("a software developer", 21, 65),
    ("a farmer", 18, 85),
    ("a chef", 18, 65),
    ("a call-centre worker", 18, 60),
)
_ADULT_LOOKS = (
    "short silver hair and reading glasses",
    "close-cropped black hair and a neat beard",
    "long dark hair tied back",
    "curly auburn hair and freckles",
    "a shaved head and warm brown eyes",
    "shoulder-length grey hair",
    "braided hair and small gold earrings",
    "thinning sandy hair and laugh lines",
)
_CHILD_LOOKS = (
    "a gap-toothed smile and messy brown hair",
    "neat braids with bright hair ties",
    "a mop of black curls",
    "short fair hair and a band-aid on one knee",
)
_CLOTHES = (
    "a knitted cardigan",
    "a work fleece",
    "a denim jacket",
    "a simple linen shirt",
    "a hospital gown under a blanket",
    "a hooded sweatshirt",
    "a patterned headscarf and coat",
)
_MOODS = (
    "thoughtful and a little anxious",
    "tired but hopeful",
    "calm, with a guarded smile",
    "worried, hands clasped",
    "quietly determined",
    "relieved to be listened to",
)
_PHOTO_STYLES = (
    "soft natural window light, shallow depth of field, 85mm lens",
    "documentary photography, available light, 35mm lens",
    "warm afternoon light, gentle film grain, eye-level framing",
    "diffused overcast light, muted colours, candid editorial portrait",
)
_OPENINGS = (
    "{name}, {age}, is {work} who comes to {setting} with {detail}.",
    "At {setting}, {name}, {a_age}-year-old {work_noun}, describes {detail}.",
)
_MIDDLES = (
    "{they_cap} {have} put off coming in, hoping it would pass, and worr{ies} most about what "
    "it means for {their} family.",
    "{they_cap} kept a note of each episode on {their} phone and ask{s} for the doctor to "
    "read it before anything else.",
    "A friend insisted on the appointment; {they} admit{s} {they} {have} been frightened to "
    "say the symptoms out loud.",
)
_CLOSINGS = (
    "What {they} want{s} most today is an explanation {they} can share at home.",
    "{they_cap} hope{s} to get back to {their} routine, and ask{s} plainly what the next steps "
    "are.",
    "{they_cap} ask{s} whether this could be serious, and listen{s} carefully to every word.",
)


# The words that follow from a patient's pronouns: she or he, and the verb forms with them.
_PRONOUNS: dict[str, dict[str, str]] = {
    sex: {
        "they": they,
        "they_cap": they.capitalize(),
        "them": them,
        "their": their,
        "have": "has",
        "s": "s",
        "ies": "ies",
    }
    for sex, they, them, their in (("woman", "she", "her", "her"), ("man", "he", "him", "his"))
}


def article(number: int) -> str:
    """'an' before a number said with a vowel sound (8, 11, 18, 80-89, 800...), else 'a'."""
    digits = str(abs(number))
    group = len(digits) % 3 or 3  # the digits said before "thousand", "million", ...
    said = digits[:group]
    return "an" if said.startswith("8") or said in ("11", "18") else "a"


class TemplateWriter:
    """Writes stories from templates: no network, the same story for the same seed."""

    def write(self, seed: int | None = None, topic: str | None = None) -> StoryDraft:
        if topic is not None and topic not in _COMPLAINTS:
            raise InvalidStory("topic", f"{topic!r} is not one of " + ", ".join(TOPICS))
        rng = random.Random(seed)
        complaint = rng.choice(_COMPLAINTS[topic or rng.choice(TOPICS)])
        age = rng.randint(complaint.min_age, complaint.max_age)
        first, sex = rng.choice(_FIRST_NAMES)
        name = f"{first} {rng.choice(_FAMILY_NAMES)}"
        child = age < 16
        setting, scene = rng.choice(_SETTINGS)
        suitable = [job for job, low, high in _WORK if low <= age <= high]
        work = "a pupil at the local school" if child else rng.choice(suitable)
        # One set of pronouns per patient, from the person the portrait shows.
        words: dict[str, object] = {
            "name": first if child else name,
            "age": age,
            "a_age": f"{article(age)} {age}",
            "setting": setting,
            "work": work,
            "work_noun": work.removeprefix("a ").removeprefix("an "),
            **_PRONOUNS[sex],
        }
        words["detail"] = complaint.detail.format(**words)
        body = " ".join(
            rng.choice(part).format(**words) for part in (_OPENINGS, _MIDDLES, _CLOSINGS)
        )
        person = ("girl" if sex == "woman" else "boy") if child else sex
        looks = rng.choice(_CHILD_LOOKS if child else _ADULT_LOOKS)
        prompt = (
            f"Photorealistic portrait of {article(age)} {age}-year-old {person} with {looks}, "
            f"wearing {rng.choice(_CLOTHES)}, in {scene}, {rng.choice(_MOODS)}, "
            f"{rng.choice(_PHOTO_STYLES)}. Respectful, natural, no text."
        )
        return StoryDraft(
            title=f"{name}, {age}: {complaint.summary}",
            body=body,
            image_generation_prompt=prompt,
        )
