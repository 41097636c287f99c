"""Held-out wording for the bench: every bench intent's requests phrased in sentences no
training split uses.

The bench must measure whether a model serves requests it has never seen, not whether it
remembers the intents' own templates (phase 1 trains on those) or the warm-up's command
frames (`training.warmup.GenericPhrasebook`). `HeldOutPhrasebook` words each request of a
bench intent afresh: per (intent, request index) several *families* (one sentence
skeleton each, whose variants differ only in small words, written `[a|b]`), in varied
register (terse, chatty, indirect, questions and commands), with a seeded register
transform on top (lower case, no final punctuation, one typo outside the slot values,
"pls"/"thx"). Whatever the wording, it says exactly what the slot values say: the calls
after the turn are made with the generator's values. Horizons of days may be said vaguely
only where the bench scorer reads the phrase as a range holding the value
(`phase4.accepted.VAGUE_HORIZONS`): 3..7 days as "the next few days" or "the coming
days", 7 as "this week" or "the week ahead", 14 as "the next two weeks" or "the next
couple of weeks"; any other count is said as a number.

A course may be named indirectly: its subject code and number ("CS 3704") or a nickname
from its name ("soils", "data structures", "DSA"), see `course_aliases`; only aliases that
name exactly one of the phrasebook's courses are used.

`HELD_OUT_OFF_TOPIC` holds requests no tool serves, none of them one the intents' own
off-topic lists say.
"""

from __future__ import annotations

import itertools
import random
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from canvas_pipeline.data.student_view import Course

__all__ = [
    "CLOSERS",
    "HELD_OUT_OFF_TOPIC",
    "OPENERS",
    "PHRASINGS",
    "HeldOutPhrasebook",
    "course_aliases",
    "expand",
    "phrasing_table",
    "template_slots",
]

# ------------------------------------------------------------------ templates
#
# A family is one string; "[a|b|]" alternatives expand it into its variants. "{slot}" is a
# slot the intent passes; "{slot:spec}" renders it a particular way (see `_Renderer`):
#   {n:next}  "in the next 5 days" / "within the next five days" / a documented vague span
#   {n:past}  "in the last 5 days" / "over the past five days"
#   {n:mins}  minutes as "30 minutes" / "half an hour" / ...
#   {len:adj} a duration as an adjective ("90-minute")
#   {phrase:dur} {phrase:adj} {phrase:next} {phrase:limits}: the parts of a free-time ask
#   {dir:push} "push it back" / "move it up"
# Dates keep their year (the model has no clock but the request), clock times their
# meaning, quoted titles their exact text.

_COURSES = (
    "[so |]what am I [signed up for|taking] [right now|at the moment]?",
    "[can you|could you] [pull up|bring up] my [class list|list of classes][ from Canvas|]?",
    "how many [classes|courses] am I carrying [this semester|this term]?",
    "[classes|courses] I'm in?",
    "I [forgot|lost track of] which [classes|courses] I ended up in[, help|]",
    "[spell out|rattle off] everything I'm enrolled in[ on Canvas|].",
)

_FREE_TIME = (
    "[got|do I have] [a|any] {phrase:adj} [gap|window] {phrase:next}{phrase:limits}?",
    "[need|looking for] {phrase:dur} [free|open] {phrase:next}{phrase:limits}. [where|when]?",
    "[when|where] is there room for {phrase:dur} {phrase:next}{phrase:limits}?",
    "[scan|check] my calendar for {phrase:adj} [openings|free slots] {phrase:next}{phrase:limits}",
    "ok so I [really |]need to carve out {phrase:dur} {phrase:next}{phrase:limits}, [what works|any options]?",
)

_BOOK_SESSION = (
    "[reserve|set aside] {len} for my {subject} [over the coming days|in the next few days][ on my calendar|]",
    "I want a {len:adj} {subject} [block|session] [booked|on the calendar] [in the coming days|over the next few days]",
    "[can you|could you] [fit|squeeze] {len} for my {subject} into my [calendar|schedule] [in the next few days|over the coming days]?",
    "{subject}: {len}, [sometime in the next few days|in the coming days]. [book it|add it]",
    "ok so I [really |]need to make time for my {subject}, [book|grab] me {len} [in the next few days|over the coming days]",
)

PHRASINGS: dict[str, tuple[tuple[str, ...], ...]] = {
    # ------------------------------------------------------------ canvas
    "courses_overview": (_COURSES,),
    "course_details": (
        (
            "what's the [deal|story] with {name}[ this term|]?",
            "[break down|walk me through] what {name} [involves|consists of].",
            "{name}: what [types of|sorts of] work [are there|does it have on Canvas]?",
            "how heavy is {name}[, workload-wise|]?",
            "[wondering|curious] what {name} [looks like|is made up of] on Canvas",
            "{name} [rundown|breakdown]?",
        ),
    ),
    "course_details_followup": (
        _COURSES,
        (
            "ok, [dig into|zoom in on] {name}[ for me|].",
            "what about {name}[, what's that one like|, how's it set up]?",
            "[cool|nice]. [and |]{name}, how is that one structured?",
            "more on {name}[ please|]?",
            "how much work is {name}[ going to be|]?",
        ),
    ),
    "course_from_assignment": (
        (
            "what [have I got|is there] due over the next couple of weeks?",
            "[anything|stuff] I need to have turned in by [two weeks|14 days] from now?",
            "[show|give] me [every|each] assignment with a deadline in the next [two weeks|14 days].",
            "ok so I'm [trying to plan ahead|planning ahead], what's coming due in the next [two weeks|fourteen days]?",
            "[two weeks|14 days] out: [what do I owe|what's on the hook]?",
        ),
        (
            'wait, "{title}" is [for|from] which [class|course]? [tell me about it|and what\'s it like]',
            '[info on|details on] [whatever|the] course "{title}" [comes from|is part of][, please|]',
            "\"{title}\" [—|-] which class [does that go with|is that], and [what's it about|how's it set up]?",
            'open up whichever course "{title}" lives in[ and describe it|]',
            "I [don't|can't] remember what class \"{title}\" is [for|in]. [describe that course|what's that course about]?",
        ),
    ),
    "due_soon_all": (
        (
            "what [is there|have I got] due {n:next}{extra}?",
            "[deadlines|due dates] {n:next}{extra}?",
            "[ok so|so] I'm kind of [panicking|stressing], what's landing {n:next}{extra}?",
            "[run through|go over] everything [I need to submit|that's due] {n:next}{extra}.",
            "anything I should be worried about [deadline-wise|due-date-wise] {n:next}{extra}?",
            "[is there|do I have] [a lot|much] due {n:next}{extra}?",
        ),
    ),
    "due_soon_course": (
        (
            "{name} [deadlines|due dates] {n:next}?",
            "what [do I still need to|must I] [submit|hand in] for {name} {n:next}?",
            "anything [in|for] {name} I should be worried about {n:next}?",
            "[check|look at] {name} and [list|give me] anything I owe {n:next}.",
            "is {name} [dropping|throwing] anything on me {n:next}?",
            "[how much|what] {name} work comes due {n:next}?",
        ),
    ),
    "syllabus_exams": (
        (
            "[open|bring up] the {name} syllabus[ for me|].",
            "when do I have tests in {name}[, according to the syllabus|]?",
            "what's the grading breakdown [in|for] {name}?",
            "[is there a midterm|are there exams] in {name}? [check the syllabus|the syllabus should say]",
            "I need the [big dates|key dates] for {name} from the syllabus",
            "how does {name} [weight|count] [exams vs homework|everything]?",
        ),
    ),
    "syllabus_followup": (
        (
            "what's on the hook [for|over] the [next seven days|week ahead]?",
            "[anything|stuff] I [need|have] to [turn in|submit] [this week|within the next 7 days]?",
            "[gimme|give me] the [rundown|list] of what's due [in the week ahead|over the next 7 days]",
            "this week, what [deadlines|due dates] am I [looking at|facing]?",
            "I'm [kind of |]behind, what [has to|needs to] [go in|get submitted] [this week|within the next seven days]?",
        ),
        (
            "\"{title}\" [—|-] [can I see|let me see] that [class's|course's] syllabus?",
            '[what class is|which course has] "{title}"? [I want|I need] [its|that] syllabus.',
            'syllabus [please |]for whatever [course|class] "{title}" is [part of|from]',
            'grab the syllabus of the [class|course] where "{title}" [lives|comes from]',
            'how is the course with "{title}" [graded|run]? [check|open] its syllabus',
        ),
    ),
    "todo": (
        (
            "[to-dos|todos]?",
            "what's [sitting|waiting] in my [Canvas |]to-do [queue|list][ right now|]?",
            "what does Canvas have [flagged|queued] for me on the to-do [side|list]?",
            "[run|go] through my Canvas [todos|to-do items] [with me|]",
            "anything I'm [forgetting|missing] on my to-do list?",
        ),
    ),
    "grades_all": (
        (
            "grades[ so far| rn|]?",
            "[how bad|how good] are my grades [looking|at the moment]?",
            "ok so I'm kind of [panicking|nervous], am I [failing|tanking] anything?",
            "[give me|show] [a|the] [grade report|scoreboard] for [every|each] class",
            "what's my [standing|percentage] in each [course|class]?",
            "[quick |]grade check across [the board|all my classes]",
        ),
    ),
    "grades_course": (
        (
            "{name} grade[ rn| right now|]?",
            "where [am I at|do I stand] in {name}[ grade-wise|]?",
            "[am I|how close am I to] failing {name}?",
            "[tell me|show me] my [percentage|%] in {name}.",
            "anything I should be worried about grade-wise in {name}?",
            "how's my {name} [grade|mark] looking[ these days|]?",
        ),
    ),
    "announcements_all": (
        (
            "[any |]new posts from my [profs|professors|instructors] {n:past}?",
            "[what did my classes announce|did my classes announce anything] {n:past}?",
            "I [haven't checked|have been ignoring] Canvas, [what got announced|what announcements went up] {n:past}?",
            "[course news|prof announcements] {n:past}?",
            "[round up|summarize] the announcements [posted|that went out] {n:past}.",
        ),
    ),
    "announcements_course": (
        (
            "did {name} [announce|post] anything [recently|this past week]?",
            "[latest|recent] {name} [announcements|posts]?",
            "[did the {name} prof say anything new|has the {name} instructor said anything lately]?",
            "I [might have|probably] missed something in {name}. [any announcements|what's been posted] [lately|recently]?",
            "[scan|go through] the {name} announcements[ from the past week|]",
        ),
    ),
    "planner": (
        (
            "planner [stuff|notes pls]?",
            "what [notes|reminders] did I [leave|write] myself in the [Canvas |]planner?",
            "[read back|pull] whatever's in my planner[ on Canvas|]",
            "anything [written down|jotted down] in my planner for the next while?",
            "I [put|added] some [notes|reminders] in my planner, [what were they|can you show them]?",
        ),
    ),
    "todo_and_planner": (
        (
            "to-dos [and|+] planner [notes|stuff]?",
            "[everything|all of it]: Canvas to-do [items|list] [plus|and] whatever I [jotted|wrote] in my planner",
            "what's [on my plate|pending], counting both [the|my] Canvas to-do [list|feed] and my planner [notes|reminders]?",
            "[merge|combine] my to-do list with my planner [notes|entries][ for me|]",
            "I want the full picture: [to-dos|to-do items] and planner [notes|reminders]",
        ),
    ),
    # ------------------------------------------------------------ calendar
    "events_window": (
        (
            # the default window (two weeks)
            "[what's|what is] ahead on my calendar [over the next two weeks|in the next couple of weeks]?",
            "calendar[,|:] next [two|2] weeks?",
            "how [busy|packed] does my calendar look [over|for] the next [two|couple of] weeks?",
            "[list|walk me through] [the events|everything] on my calendar [for the coming two weeks|through the next 14 days]",
            "what [events|meetings and stuff] [are lined up|are booked] for me in the next [two weeks|fortnight]?",
            # one day
            "how does {day} look [on my calendar|for me|schedule-wise]?",
            "[anything|something] [booked|scheduled] on {day}?",
            "{day}: [am I free|what's happening]?",
            "[list|read me] my events for {day}",
            "I'm trying to plan {day}, what's already on the calendar[ that day|]?",
            # a span of days
            "[list|show] what I've got from {day} [through|to] {last}",
            "how [busy|packed] am I [from {day} to|between {day} and] {last}?",
            "{day} [→|->] {last}: what's [on the calendar|scheduled]?",
            "I'm [planning|figuring out] the stretch from {day} to {last}, what's [already |]on my calendar?",
            "run me through my [calendar|schedule] for {day} [through|until the end of] {last}",
        ),
    ),
    "free_time": (_FREE_TIME,),
    "book_study_block": (
        (
            "[put|get] {len} of {name} [studying|review] on my calendar {h:next}",
            "I [need|want] to study {name} for {len} {h:next}, [book it|grab a slot and add it].",
            "[reserve|lock in] a {len:adj} {name} [study block|session] {h:next}[, first open slot is fine|]",
            "can you [carve out|set aside] {len} {h:next} [for|to work on] {name} and [add it to|put it on] my calendar?",
            "{name} study time: {len}, {h:next}. [book it|schedule it]",
        ),
    ),
    "plan_for_assignment": (
        (
            "[figure out|check] what's due [first|soonest] [this week|in the next 7 days] and [block|reserve] {len} [for it|to work on it].",
            "I [need|want] {len} on whatever's due [soonest|first] [this week|within the next 7 days], [book|schedule] it",
            "[grab|book] me a {len:adj} [work block|slot] for my earliest deadline [this week|in the next seven days]",
            "ok so I'm kind of behind, can you [set up|schedule] {len} for whichever assignment is due first [this week|in the next 7 days]?",
            "earliest deadline [this week|over the next 7 days]: [give me|book] {len} [for|to work on] it.",
        ),
    ),
    "block_size": (
        (
            "[ideal|best] [chunk|stretch] of time for my {task}?",
            "how long [can|should] I [focus|grind] on my {task} [before a break|in one go]?",
            "{task}: [what length|how long] per session[?|, roughly?]",
            "what's [the right|a sensible] [block|session] size for my {task}?",
            "I [keep burning|tend to burn] out on my {task}. how [long|many minutes] should each [stint|session] be?",
        ),
    ),
    "block_size_then_book": (
        (
            "[book|schedule] a [good-length|well-sized] [session|block] for my {task} [in the next few days|over the coming days]",
            "however long my {task} sessions [should be|ought to be], [put one on|book one into] my calendar [in the next few days|over the coming days]",
            "I [should|have to] start on my {task}. [pick|figure out] the right [block length|session length] and [book it|put it on my calendar] [in the next few days|over the coming days].",
            "[slot in|add] a block for my {task}, [sized right|the recommended length], [sometime in the next few days|in the coming days]",
            "[ok so|so] I keep putting off my {task}, [can you|could you] [schedule|book] a [proper|well-sized] chunk for it [in the next few days|in the coming days]?",
        ),
    ),
    "move_event": (
        (
            "[could|can] {title} on {day} start at {clock} instead?",
            "[shift|bump] {title} [({day})|on {day}] [so it begins|to begin] at {clock}",
            "{day}: [I need|let's have] {title} [at|starting at] {clock}[ instead|]",
            "[change|set] the start of {title} on {day} to {clock}",
            "ok so {title} on {day} doesn't work [anymore|for me], [make it|have it start at] {clock}?",
        ),
    ),
    "cancel_event": (
        (
            "[remove|drop] {title} on {day}[ from my calendar|], {reason}",
            "{reason}, so [scrap|kill] {title} on {day}[ please|]",
            "[can you|could you] clear {title} off {day}? {reason}",
            "[get rid of|wipe] the {title} on {day}, since {reason}",
            "{title} on {day} [isn't happening|is off] ({reason}), [delete it|take it out]",
        ),
    ),
    "book_then_move": (
        _BOOK_SESSION,
        (
            "[hmm,|wait,] [could|can] it [start|be] {n:mins} {dir} [instead|]?",
            "{dir:push} {n:mins}[ please|]",
            "[actually|on second thought], [slide|shift] [the session|it] {n:mins} {dir}",
            "that [time|slot] [doesn't|won't] work, [do|make that] {n:mins} {dir}",
            "[I need it|can we have it] {n:mins} {dir}[ than that|]?",
        ),
    ),
    "book_then_cancel": (
        _BOOK_SESSION,
        (
            "[hmm,|wait,] [undo|cancel] [that|the] booking",
            "[on second thought|changed my mind], I don't [want|need] [it|that session][ anymore|]",
            "[get rid of|drop] [that|the] [session|block] you just [made|added]",
            "[nah|nope], [take it off|pull it off] [my|the] calendar",
            "ok so [plans changed|something came up], [kill|delete] that [session|block][ please|]",
        ),
    ),
    "calendar_and_due": (
        (
            "[deadlines|due dates] [plus|and] [calendar|events] for [the week ahead|the next seven days]?",
            "what does [the next 7 days|the week ahead] look like[, assignments and events| with due dates and calendar both]?",
            "I want [one|a single] view of the [week ahead|next 7 days]: [what's due and what's scheduled|assignments and calendar]",
            "[lay out|map out] [the next seven days|this week] for me, [deadlines and calendar events|due work and appointments]",
            "ok so I'm kind of [overwhelmed|swamped], between assignments and my calendar what's going on [this week|in the next 7 days]?",
        ),
    ),
    "book_listed_block": (
        _FREE_TIME,
        (
            "[the|let's do the] {which} [slot|block], [use it|book it] for {name}",
            "{which} one works, [put|book] {name} [study time |]there",
            "[book|grab] the {which} [option|one] for {name}[ please|]",
            "ok so the {which} [one|slot] [is perfect|looks good], [use it for|give it to] {name}",
            "{name} [goes|can go] in the {which} [opening|gap]",
        ),
    ),
    "book_named_slot": (
        (
            '[schedule|create] "{title}" [for|on] {day}, {t1} [to|until] {t2}',
            'block {t1}-{t2} on {day} [and call it|as] "{title}"',
            'can you [add|pencil in] an event [called|named] "{title}" on {day} [from {t1} to|between {t1} and] {t2}?',
            '{day} {t1}-{t2}: "{title}". [calendar it|get it on my calendar]',
            'ok so I [want|need] "{title}" on the calendar, {day} [from {t1} to|{t1} through] {t2}',
        ),
    ),
    # ------------------------------------------------------------ study
    "spaced_known_exam": (
        (
            "{subject} exam: {day} at {clock}. [spread|space] my [studying|review] out [before it|leading up to it].{ask}",
            "I've got {subject} on {day} at {clock} ([exam|test]). [make|build] me a spaced [review|study] plan.{ask}",
            "ok so I'm kind of panicking about {subject}, the exam is {day} at {clock}. [can you |]spread [out |]some [review|study] sessions [before then|ahead of it]?{ask}",
            "[plan|set up] [distributed|spread-out] practice for the {subject} [exam|test] at {clock} on {day}.{ask}",
            "spaced-repetition schedule for {subject}[, please|]: the [exam|test] is {day}, {clock}.{ask}",
        ),
    ),
    "spaced_from_syllabus": (
        (
            "[space out|spread out] my [prep|studying] for the next {name} [exam|test][, dates are in the syllabus|]",
            "[find|look up] when the next {name} exam is and [build|make] a spaced [review|study] schedule [for it|around it]",
            "ok so the next {name} exam is [coming|creeping] up, [can you|could you] [spread|space] some review sessions before it?",
            "{name}: next exam. spaced [review|study] plan[ please|]?",
            "I [always|usually] cram for {name}. [this time|for the next exam] I want spaced [sessions|review] instead, [set that up|can you plan it]?",
        ),
    ),
    "semester_plan": (
        (
            "project [deadlines|milestones]: {listed}. [the term|the semester] is over on {end}. [spread|lay out] the work [week by week|across the weeks].{hours}",
            "[can you|could you] [pace|spread] my project [over|across] the [rest of the term|remaining weeks], ending {end}? [it has|pieces]: {listed}.{hours}",
            "weekly [breakdown|workload] for my project through {end}[, please|]: {listed}.{hours}",
            "ok so my project has {listed}, and [classes end|the semester ends] {end}. what should each week look like?{hours}",
            "I [need|want] a week-by-week [plan|schedule] for my [term project|project] ({end} is the last day): {listed}.{hours}",
        ),
    ),
    "semester_plan_from_canvas": (
        (
            "[map out|lay out] {name} week by week [until|through] the end of the [term|semester], [based on|using] its [major|big] [deadlines|assignments] on Canvas",
            "{name} has some big [assignments|deadlines] coming, [can you|could you] [spread|pace] the work [over|across] the remaining weeks?",
            "how should I [split|divide] my {name} workload [per week|by week] [from now to|until] the end of [term|the semester]?",
            "ok so I [keep falling|tend to fall] behind in {name}. [weekly plan|week-by-week plan] for the rest of the [term|semester]?",
            "[give me|make] a [long-range|whole-semester] schedule for the [major|big] [deadlines|projects] in {name}",
        ),
    ),
    "exam_day": (
        (
            "{subject} exam on {day}, {t1} [to|until] {t2}. [what should I do|how should I plan] before and after?{ask}",
            "[help me|please help me] [structure|organize] {day} around my {subject} [exam|test] ({t1} to {t2}).{ask}",
            "ok so I'm kind of panicking, {subject} exam {day} [from {t1} to|between {t1} and] {t2}, [warm-up and cool-down|review before and a break after], [plan it|set it up]?{ask}",
            "[give me|build] a game plan for {day}: {subject} exam {t1}-{t2}, [review|prep] before, [rest|recovery] after.{ask}",
            "[the|my] {subject} [exam|final] [runs|goes] {t1} to {t2} on {day}. [how should I|what's the best way to] [handle|pace] the hours around it?{ask}",
        ),
    ),
    "exam_day_booked": (
        (
            "[exam|test] on {day}, {t1} to {t2}. [set up|work out] a review [slot|block] right before it and [book|calendar] it.",
            "[can you|could you] [schedule|put] a [pre-exam|last-minute] review on my calendar [ahead of|before] my exam ({day}, {t1}-{t2})?",
            "I've got an exam {day} [from {t1} to|between {t1} and] {t2}; [figure out|plan] the [warm-up|review] before it and [add|save] it to my calendar",
            "[book|block] my [exam review|review time] before the {t1}-{t2} exam on {day}",
            "ok so exam [day is|is on] {day} ({t1} to {t2}). [plan|sort out] my review [beforehand|before it] and [put|stick] it on the calendar",
        ),
    ),
    # ------------------------------------------------------------ reranker
    "which_first_pair": (
        (
            '"{a}" [from|in] {ac}, or "{b}" [from|in] {bc}: [which one first|what do I start with]?',
            '[should I start with|do I tackle first] "{a}" ({ac}) or "{b}" ({bc})?',
            'ok so I [only have time|have time] for one: "{a}" ({ac}) [vs|versus] "{b}" ({bc}). [pick one|which]?',
            '[rank|order] these [by urgency|for me]: "{a}" for {ac} and "{b}" for {bc}',
            '[torn between|stuck between] "{a}" ({ac}) and "{b}" ({bc}), which [matters more|is more pressing] right now?',
        ),
    ),
    "which_first_canvas": (
        (
            '"{a}" or "{b}": [which one first|what do I start with]?',
            '[should I start with|do I tackle first] "{a}" or "{b}"?',
            'ok so I [only have time|have time] for one, "{a}" [vs|versus] "{b}". [pick one|which]?',
            '[rank|order] these [by urgency|for me]: "{a}" and "{b}"',
            '[torn between|stuck between] "{a}" and "{b}", which [matters more|is more pressing] right now?',
        ),
    ),
}
"""Per bench intent, per `say` call index: the families of held-out phrasings."""

# ------------------------------------------------------------------ off topic

HELD_OUT_OFF_TOPIC: tuple[tuple[str, str], ...] = (
    # near-domain actions no tool can take
    ("submit my essay for me", "action"),
    ("Email my professor that I'll be late to class.", "action"),
    ("drop my 8am", "action"),
    ("Register me for next semester's classes.", "action"),
    ("change my grade in chem", "action"),
    ("message my lab group that I'm running behind", "action"),
    ("Pay my parking ticket.", "action"),
    ("request an extension on the lab report", "action"),
    ("Upload my lab report to Canvas.", "action"),
    ("can you take my quiz for me", "action"),
    ("Post a reply on the discussion board for me.", "action"),
    ("withdraw me from stats", "action"),
    ("Tell my TA I'm sick today.", "action"),
    ("sign me up for office hours with the professor", "action"),
    ("Print my notes at the library.", "action"),
    ("Buy the textbook for my history class.", "action"),
    ("add me to the waitlist for orgo", "action"),
    ("Reset my Canvas password.", "action"),
    ("book a study room in the library for tonight", "action"),
    ("Order a blue book for my exam.", "action"),
    ("can you write my discussion post", "action"),
    ("Turn in my problem set now.", "action"),
    ("switch me into the afternoon lab section", "action"),
    ("apply for financial aid for me", "action"),
    ("Schedule a meeting with my academic advisor through the advising portal.", "action"),
    ("send my group the slides", "action"),
    ("Renew my library books.", "action"),
    ("file a grade appeal for my last exam", "action"),
    ("Ask my professor to reopen the quiz.", "action"),
    ("order my cap and gown", "action"),
    # polite closers
    ("ok that's all, thanks!", "thanks"),
    ("perfect, appreciate it", "thanks"),
    ("cool thx", "thanks"),
    ("Great, that helps a lot.", "thanks"),
    ("awesome, you're the best", "thanks"),
    ("thanks, I'm good now", "thanks"),
    ("That's everything for now, cheers.", "thanks"),
    ("ty!!", "thanks"),
    ("Got it, thanks a bunch.", "thanks"),
    ("nice, that's exactly what I needed", "thanks"),
    ("ok cool, bye", "thanks"),
    ("Many thanks, have a good one.", "thanks"),
    ("all set, thank u", "thanks"),
    # greetings
    ("hello", "greeting"),
    ("Hey there, assistant.", "greeting"),
    ("good evening!", "greeting"),
    ("hiii", "greeting"),
    ("Howdy!", "greeting"),
    ("sup", "greeting"),
    ("Hi, are you there?", "greeting"),
    ("morning", "greeting"),
    # far off-domain
    ("What's the tallest mountain in Africa?", "general"),
    ("how do I boil an egg", "general"),
    ("Who wrote Pride and Prejudice?", "general"),
    ("what's a good name for a goldfish", "general"),
    ("Explain how a rainbow forms.", "general"),
    ("how many miles is a marathon", "general"),
    ("Give me a pun about cats.", "general"),
    ("What year did the Berlin Wall fall?", "general"),
    ("is a tomato a fruit", "general"),
    ("What's the square root of 144?", "general"),
    ("recommend a podcast for my commute", "general"),
    ("How do you say thank you in Japanese?", "general"),
    ("what should I cook for dinner tonight", "general"),
    ("Which planet has the most moons?", "general"),
    ("tell me a riddle", "general"),
    ("What's the best way to learn guitar?", "general"),
    ("how hot is the sun", "general"),
    ("Compose a limerick about coffee.", "general"),
    ("What's the population of Canada?", "general"),
    ("who invented the telephone", "general"),
    ("Any tips for falling asleep faster?", "general"),
    ("What's the plural of octopus?", "general"),
)
"""Requests no tool serves, each with its `intents.OFF_TOPIC_ANSWERS` kind; none is one of
the intents' own off-topic requests."""

# ------------------------------------------------------------------ course aliases

_SEASONS = frozenset({"fall", "spring", "summer", "winter", "autumn"})
_FILLER = frozenset({"and", "of", "the", "to", "in", "for", "&", "a", "an", "on", "with", "at"})
_LEADING = (
    "introduction to ",
    "intro to ",
    "introductory ",
    "intro ",
    "principles of ",
    "foundations of ",
    "fundamentals of ",
    "topics in ",
    "survey of ",
    "intermediate ",
    "advanced ",
)
_ABBREVIATIONS = {
    "laboratory": "lab",
    "chemistry": "chem",
    "statistics": "stats",
    "economics": "econ",
    "mathematics": "math",
    "general": "gen",
    "differential": "diff",
    "equations": "eq",
    "psychology": "psych",
    "biology": "bio",
    "technical": "tech",
}
_CODE = re.compile(r"(?<![A-Za-z@/])([A-Za-z]{2,5})[ _](\d{4})(?!\d)")
_PLACEHOLDER = re.compile(r"@COURSE\w*(?:/\w+)?:?", re.IGNORECASE)
_UNSAFE = re.compile(r"@|_|\d{5,}")
_ROMAN = frozenset({"i", "ii", "iii", "iv"})


def _noise(token: str) -> bool:
    low = token.lower().strip(",.;")
    return (
        not low
        or low in _SEASONS
        or low in {"term", "default", "section", "site", "am", "pm"}
        or bool(re.fullmatch(r"\d+(?:[:.]\d+)?", low))
        or bool(re.fullmatch(r"[sfwu]\d{2}", low))
        or bool(re.fullmatch(r"[MTWRF]{2,5}", token))
        or (bool(re.fullmatch(r"[-–—/|]+", token)))
    )


def _words(part: str) -> list[str]:
    return [t.strip(",;") for t in part.replace("_", " ").split() if not _noise(t)]


def _significant(words: list[str]) -> list[str]:
    return [w for piece in words for w in piece.split("-") if w and w.lower() not in _FILLER]


def _nicknames(name: str) -> list[str]:
    text = name
    placeholder = _PLACEHOLDER.search(text)
    if placeholder and text[: placeholder.start()].strip():
        text = text[: placeholder.start()]  # "General Chemistry @COURSE5 Wall TR": what precedes it
    text = _PLACEHOLDER.sub(" ", text)
    text = re.sub(r"\([^)]*\)", " ", text)
    parts = [p for p in re.split(r"\s+[-–—:]\s+|:\s+|\s+-\s*|\s*-\s+", text) if p.strip()]
    candidates = [_words(p) for p in parts]
    candidates = [c for c in candidates if c]
    if not candidates:
        return []
    words = max(candidates, key=lambda c: len(_significant(c)))  # the first of the fullest parts
    base = " ".join(words)
    out = [base.lower()]
    stripped = base
    changed = True
    while changed:
        changed = False
        for lead in _LEADING:
            if stripped.lower().startswith(lead) and len(stripped) > len(lead):
                stripped, changed = stripped[len(lead) :], True
    tail = stripped.split()
    if len(tail) > 1 and tail[-1].lower() in _ROMAN:
        stripped = " ".join(tail[:-1])
    out.append(stripped.lower())
    plain = not any(w.lower() in _FILLER - {"and", "&"} for w in stripped.split())  # no "of", "the", "in"...
    head = re.split(r"\s+(?:and|&)\s+", stripped, maxsplit=1)
    if plain and len(head) == 2 and len(head[0].split()) >= 2:
        out.append(head[0].lower())  # "Data Structures and Algorithms" -> "data structures"
    short = " ".join(_ABBREVIATIONS.get(w.lower(), w.lower()) for w in stripped.split())
    out.append(short.replace("diff eq", "diffeq").replace("computer science", "CS"))
    significant = _significant(stripped.split())
    if plain and len(significant) == 3 and re.search(r"\sand\s|&|\w-\w", stripped):
        out.append("".join(w[0] for w in significant).upper())  # "DSA", "HCI"
    first = stripped.split()
    if len(first) >= 3 and first[1].lower() == "of" and len(first[0]) >= 4:
        out.append(_ABBREVIATIONS.get(first[0].lower(), first[0].lower()))
    return out


def _code_alias(text: str) -> str | None:
    for match in _CODE.finditer(text):
        letters, number = match.groups()
        if letters.lower() in _SEASONS or letters.lower() in {"site", "term"}:
            continue
        return f"{letters.upper()} {number}"
    return None


def course_aliases(course: Course) -> list[str]:
    """Other ways a student names `course`: the subject code and number from its code ("CS
    3704"), and nicknames from its name ("soils", "data structures", "DSA"), without term,
    season or year words, parenthesised numbers, anonymisation placeholders or codes. Never
    the name itself (case aside), nothing with "@", an underscore or an SIS number."""
    found: list[str] = []
    code = _code_alias(course.code) or _code_alias(course.name)
    if code:
        found.append(code)
    found.extend(_nicknames(course.name))
    own = {course.name.strip().lower(), course.short_name.strip().lower()}
    out: list[str] = []
    for alias in found:
        alias = " ".join(alias.split()).strip(" ,.;:-")
        if (
            len(alias) < 2
            or len(alias.split()) > 4
            or _UNSAFE.search(alias)
            or alias.lower() in own
            or alias.lower() in {o.lower() for o in out}
            or alias.lower() in _FILLER
        ):
            continue
        out.append(alias)
    return out


# ------------------------------------------------------------------ expansion


def expand(family: str) -> list[str]:
    """Every variant of a family: "[a|b] c[ d|]" -> "a c d", "a c", "b c d", "b c"."""
    pieces = re.split(r"\[([^\[\]]*)\]", family)
    options = [[p] if k % 2 == 0 else p.split("|") for k, p in enumerate(pieces)]
    out: list[str] = []
    for combo in itertools.product(*options):
        text = " ".join("".join(combo).split())
        text = re.sub(r" ([,.?!:;)])", r"\1", text).replace("( ", "(")
        if text not in out:
            out.append(text)
    return out


_FORMATTER = string.Formatter()


def template_slots(template: str) -> frozenset[str]:
    """The slot names a template fills (spec aside)."""
    return frozenset(field for _, field, _, _ in _FORMATTER.parse(template) if field)


@dataclass(frozen=True)
class _Family:
    slots: frozenset[str]
    variants: tuple[str, ...]


def _compile() -> dict[tuple[str, int], list[_Family]]:
    book: dict[tuple[str, int], list[_Family]] = {}
    for intent, requests in PHRASINGS.items():
        for index, families in enumerate(requests):
            for family in families:
                variants = tuple(expand(family))
                slots = {template_slots(v) for v in variants}
                if len(slots) != 1:
                    raise ValueError(f"{intent}[{index}]: variants of {family!r} fill different slots {slots}")
                book.setdefault((intent, index), []).append(_Family(slots.pop(), variants))
    return book


_BOOK = _compile()


def phrasing_table() -> dict[tuple[str, int, frozenset[str]], list[tuple[str, ...]]]:
    """Every (intent, request index, slot set) the phrasebook serves, with its families'
    expanded variants."""
    table: dict[tuple[str, int, frozenset[str]], list[tuple[str, ...]]] = {}
    for (intent, index), families in _BOOK.items():
        for family in families:
            table.setdefault((intent, index, family.slots), []).append(family.variants)
    return table


# ------------------------------------------------------------------ rendering

_NUMBER_WORDS = {
    1: "one",
    2: "two",
    3: "three",
    4: "four",
    5: "five",
    6: "six",
    7: "seven",
    8: "eight",
    9: "nine",
    10: "ten",
    11: "eleven",
    12: "twelve",
    13: "thirteen",
    14: "fourteen",
}
_DURATION = re.compile(r"^(\d+) (hour|hours|minutes)$")
_FREE = re.compile(
    r"^(\d+ (?:hour|hours|minutes)) in the next (\d+) days(, weekdays only|, between (\d+):00 and (\d+):00)?$"
)
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2}) (AM|PM)$")
_LISTED = re.compile(r"^(.+) due (.+) \(~(\d+) h\)$")

OPENERS = (
    "ok so I'm kind of panicking, ",
    "quick one, ",
    "hey so ",
    "random q, ",
    "sorry to bug you, ",
    "um ",
    "real quick: ",
    "ok ",
    "so ",
    "hiya, ",
)
"""Chatty openers the register transform may put before a request."""
CLOSERS = (" pls", " plz", " thx", ", thx", " ty")
"""Casual sign-offs the register transform may add (before the final punctuation)."""
_NO_TYPO = frozenset({"coming", "couple", "several", "fortnight", "weekdays", "weekend", "weekends"})
_KEEP_CASE = re.compile(r"^(?:I|I'm|I've|I'd|I'll)\b")
_CHATTY = re.compile(r"^(?:ok|so|hmm|wait|nah|nope|cool|nice|actually|on second thought)\b", re.IGNORECASE)


def _word(n: int, rng: random.Random) -> str:
    return _NUMBER_WORDS[n] if n in _NUMBER_WORDS and rng.random() < 0.35 else str(n)


def _hour12(hour: int) -> str:
    if hour == 12:
        return "noon"
    return f"{hour % 12 or 12}{'am' if hour < 12 else 'pm'}"


def _minutes_noun(minutes: int, rng: random.Random) -> str:
    special = {
        30: ["30 minutes", "half an hour", "30 min"],
        45: ["45 minutes", "45 min", "forty-five minutes"],
        60: ["an hour", "1 hour", "one hour", "60 minutes"],
        90: ["90 minutes", "an hour and a half", "1.5 hours", "90 min"],
        120: ["2 hours", "two hours", "2 hrs", "120 minutes"],
        180: ["3 hours", "three hours", "3 hrs"],
    }
    if minutes in special:
        return rng.choice(special[minutes])
    if minutes % 60 == 0:
        return f"{minutes // 60} hours"
    return f"{minutes} minutes"


def _minutes_adj(minutes: int, rng: random.Random) -> str:
    special = {
        30: ["30-minute", "half-hour"],
        45: ["45-minute", "45-min"],
        60: ["1-hour", "one-hour", "60-minute"],
        90: ["90-minute", "90-min"],
        120: ["2-hour", "two-hour"],
        180: ["3-hour", "three-hour"],
    }
    if minutes in special:
        return rng.choice(special[minutes])
    if minutes % 60 == 0:
        return f"{minutes // 60}-hour"
    return f"{minutes}-minute"


def _duration_minutes(text: str) -> int | None:
    match = _DURATION.match(text.strip())
    if match is None:
        return None
    amount, unit = int(match.group(1)), match.group(2)
    return amount if unit == "minutes" else 60 * amount


def _ahead(n: int, rng: random.Random) -> str:
    """A forward horizon of n days as an adverbial; vague only as the scorer reads it."""
    vague: list[str] = []
    if 3 <= n <= 7:
        vague += ["in the next few days", "over the coming days"]
    if n == 7:
        vague += ["this week", "in the week ahead"]
    if n == 14:
        vague += ["over the next two weeks", "in the next couple of weeks"]
    if vague and rng.random() < 0.4:
        return rng.choice(vague)
    lead = rng.choice(("in the next", "within the next", "over the next"))
    return f"{lead} {_word(n, rng)} days"


class _Renderer:
    """Renders one request's slots (one choice per slot and spec, so a slot said twice is
    said the same way)."""

    def __init__(self, slots: dict[str, Any], rng: random.Random, aliases: dict[str, list[str]]) -> None:
        self.slots, self.rng, self.aliases = slots, rng, aliases
        self.cache: dict[tuple[str, str], str] = {}

    def __call__(self, field: str, spec: str) -> str:
        key = (field, spec)
        if key not in self.cache:
            self.cache[key] = self.render(field, spec, self.slots[field])
        return self.cache[key]

    def render(self, field: str, spec: str, value: Any) -> str:
        rng = self.rng
        if isinstance(value, int) and not isinstance(value, bool):
            if spec == "next":
                return _ahead(value, rng)
            if spec == "past":
                lead = rng.choice(("in the last", "over the past", "in the past", "during the last"))
                return f"{lead} {_word(value, rng)} days"
            if spec == "mins":
                return _minutes_noun(value, rng)
            return str(value)
        text = str(value)
        if field == "name" and not spec:
            options = self.aliases.get(text, [])
            return rng.choice(options) if options and rng.random() < 0.4 else text
        if field in ("day", "last", "end"):
            return self.date(text)
        if field in ("clock", "t1", "t2"):
            return self.clock(text)
        if field == "len":
            minutes = _duration_minutes(text)
            if minutes is None:
                return text
            return _minutes_adj(minutes, rng) if spec == "adj" else _minutes_noun(minutes, rng)
        if field == "phrase":
            return self.free(text, spec)
        if field == "extra":
            if not text.strip():
                return ""
            return rng.choice(
                (
                    " (including stuff I already submitted)",
                    ", submitted ones too",
                    ", even things I've handed in already",
                    ", counting work I already submitted",
                )
            )
        if field == "ask":
            return self.ask(text)
        if field == "hours":
            match = re.search(r"(\d+) hours a week", text)
            if match is None:
                return text
            w = match.group(1)
            return rng.choice(
                (
                    f" I've got {w} hours a week for it.",
                    f" Budget: {w} hrs per week.",
                    f" ({w} h/week available.)",
                    f" Max {w} hours each week.",
                )
            )
        if field == "listed":
            return self.listed(text)
        if field == "dir" and spec == "push":
            if text == "later":
                return rng.choice(("push it back", "bump it back", "push it later"))
            if text == "earlier":
                return rng.choice(("pull it forward", "move it up", "bring it forward"))
            return f"move it {text}"
        if field == "which":
            short = {"first": "1st", "second": "2nd", "third": "3rd"}
            return short[text] if text in short and rng.random() < 0.3 else text
        return text

    def style(self, kind: str, count: int) -> int:
        """One style per kind of value for the whole request (both clock times alike)."""
        key = ("#style", kind)
        if key not in self.cache:
            self.cache[key] = str(self.rng.randrange(count))
        return int(self.cache[key])

    def date(self, text: str) -> str:
        try:
            day = datetime.strptime(text, "%A, %B %d, %Y")
        except ValueError:
            return text
        weekday, month = day.strftime("%A"), day.strftime("%B")
        wd, mo = weekday[:3], month[:3]
        forms = (
            text,
            f"{wd}, {mo} {day.day}, {day.year}",
            f"{month} {day.day}, {day.year}",
            f"{weekday} {mo} {day.day}, {day.year}",
            f"{day.day} {month} {day.year}",
            f"{day.month}/{day.day}/{day.year}",
        )
        return forms[self.style("date", len(forms))]

    def clock(self, text: str) -> str:
        match = _CLOCK.match(text)
        if match is None:
            return text
        hour, minute, half = int(match.group(1)), match.group(2), match.group(3)
        h24 = hour % 12 + (12 if half == "PM" else 0)
        short = f"{hour}{half.lower()}" if minute == "00" else f"{hour}:{minute}{half.lower()}"
        forms = (
            text,
            short,
            f"{hour}:{minute} {half.lower()}",
            f"{hour}:{minute} {'a.m.' if half == 'AM' else 'p.m.'}",
            f"{h24:02d}:{minute}",
        )
        return forms[self.style("clock", len(forms))]

    def free(self, text: str, spec: str) -> str:
        match = _FREE.match(text)
        if match is None:  # unknown shape: say it as given, once
            return text if spec == "dur" or spec == "adj" else ""
        minutes = _duration_minutes(match.group(1))
        assert minutes is not None
        if spec == "dur":
            return _minutes_noun(minutes, self.rng)
        if spec == "adj":
            return _minutes_adj(minutes, self.rng)
        if spec == "next":
            return _ahead(int(match.group(2)), self.rng)
        if spec == "limits":
            if match.group(3) is None:
                return ""
            if match.group(4) is None:
                return self.rng.choice(
                    (", weekdays only", " (no weekends)", ", Monday to Friday only", ", not on the weekend")
                )
            lo, hi = _hour12(int(match.group(4))), _hour12(int(match.group(5)))
            return self.rng.choice(
                (f", between {lo} and {hi}", f" (only {lo}-{hi})", f", sometime between {lo} and {hi}")
            )
        return text

    def ask(self, text: str) -> str:
        if not text.strip():
            return ""
        rng = self.rng
        sessions = re.search(r"(\d+) sessions", text)
        if sessions:
            k = _word(int(sessions.group(1)), rng)
            return rng.choice(
                (
                    f" I'd like {k} sessions.",
                    f" {k} sessions please.",
                    f" Make it {k} sessions.",
                    f" Split it into {k} sessions.",
                )
            )
        review = re.search(r"(\d+)-minute review", text)
        if review:
            m = int(review.group(1))
            return rng.choice(
                (
                    f" I want {_minutes_noun(m, rng)} of review before it.",
                    f" Give me a {_minutes_adj(m, rng)} review first.",
                    f" Review time: {_minutes_noun(m, rng)} beforehand.",
                )
            )
        return text

    def listed(self, text: str) -> str:
        entries = [_LISTED.match(part) for part in text.split("; ")]
        if not entries or any(e is None for e in entries):
            return text
        rng = self.rng
        style = rng.randrange(3)
        parts = []
        for entry in entries:
            assert entry is not None
            title, due, hours = entry.groups()
            if style == 0:
                parts.append(f"{title} by {due}, ~{hours}h")
            elif style == 1:
                parts.append(f"{title} ({due}, {hours} hours of work)")
            else:
                parts.append(f"{title}: due {due}, needs {hours} hrs")
        return rng.choice(("; ", " | ", " / ")).join(parts)


def _restyle(template: str, rng: random.Random) -> tuple[str, bool]:
    """The register transform's template-side changes: lower case and one typo, both in the
    template's own words only (never inside a slot value). Returns the template and
    whether it was lower-cased."""
    pieces = list(_FORMATTER.parse(template))
    lower = rng.random() < 0.3
    literals = [p[0].lower() if lower else p[0] for p in pieces]
    if rng.random() < 0.15:
        spots = [
            (k, m)
            for k, literal in enumerate(literals)
            for m in re.finditer(r"[A-Za-z]{6,}", literal)
            if m.group(0).lower() not in _NO_TYPO
        ]
        if spots:
            k, m = spots[rng.randrange(len(spots))]
            word = m.group(0)
            if rng.random() < 0.5:
                i = rng.randrange(1, len(word) - 2)
                typo = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
            else:
                i = rng.randrange(1, len(word) - 1)
                typo = word[:i] + word[i + 1 :]
            literals[k] = literals[k][: m.start()] + typo + literals[k][m.end() :]
    out = []
    for literal, (_, field, spec, _) in zip(literals, pieces, strict=True):
        out.append(literal)
        if field is not None:
            out.append("{" + field + (":" + spec if spec else "") + "}")
    return "".join(out), lower


class HeldOutPhrasebook:
    """The bench's wording of every bench intent's requests (see the module docstring);
    implements `phase1.dialogue.Phrasebook`."""

    def __init__(self, courses: Sequence[Course] = ()) -> None:
        owners: dict[str, set[int]] = {}
        names: dict[str, set[int]] = {}
        for course in courses:
            for own in (course.name, course.short_name):
                names.setdefault(own.strip().lower(), set()).add(course.course_id)
            for alias in course_aliases(course):
                owners.setdefault(alias.lower(), set()).add(course.course_id)
        by_short: dict[str, set[int]] = {}
        for course in courses:
            by_short.setdefault(course.short_name, set()).add(course.course_id)
        self.aliases: dict[str, list[str]] = {}
        for course in courses:
            if len(by_short[course.short_name]) > 1:
                continue  # two courses answer to this name: no alias can say which
            self.aliases[course.short_name] = [
                a
                for a in course_aliases(course)
                if owners[a.lower()] == {course.course_id}
                and names.get(a.lower(), {course.course_id}) == {course.course_id}
            ]

    def families(self, intent: str, index: int, slots: dict[str, Any]) -> list[tuple[str, ...]]:
        """The families that can word this request (their slots are exactly `slots`)."""
        wanted = frozenset(slots)
        return [f.variants for f in _BOOK.get((intent, index), []) if f.slots == wanted]

    def phrase(self, intent: str, index: int, slots: dict[str, Any], rng: random.Random) -> str:
        return self.render(intent, index, slots, rng)

    def render(
        self, intent: str, index: int, slots: dict[str, Any], rng: random.Random, *, register: bool = True
    ) -> str:
        """One held-out wording of the request; `register=False` leaves out the register
        transform (lower case, typo, opener, sign-off, dropped punctuation)."""
        families = self.families(intent, index, slots)
        if not families:
            raise KeyError(f"no held-out phrasing for {intent} request {index} with slots {sorted(slots)}")
        family = families[rng.randrange(len(families))]
        return self.fill(family[rng.randrange(len(family))], slots, rng, register=register)

    def fill(self, template: str, slots: dict[str, Any], rng: random.Random, *, register: bool = True) -> str:
        """`template` (one expanded variant) said with `slots`, through the register
        transform unless `register` is False."""
        lower = False
        if register:
            template, lower = _restyle(template, rng)
        renderer = _Renderer(slots, rng, self.aliases)
        pieces: list[str] = []
        for literal, field, spec, _ in _FORMATTER.parse(template):
            if literal.startswith(".") and pieces and pieces[-1].endswith("."):
                literal = literal[1:]  # "at 7:00 p.m." ends the sentence: no second dot
            pieces.append(literal)
            if field is not None:
                pieces.append(renderer(field, spec or ""))
        text = "".join(pieces).strip()
        if not lower and text[:1].islower() and template[:1] not in "{\"'":
            text = text[0].upper() + text[1:]
        if not register:
            return text
        if rng.random() < 0.18 and not _CHATTY.match(template):
            opener = OPENERS[rng.randrange(len(OPENERS))]
            if template[:1] not in "{\"'" and not _KEEP_CASE.match(text):
                text = text[:1].lower() + text[1:]
            text = opener + text
        # Only the template's own final punctuation moves or goes ("p.m." keeps its dot).
        end = text[-1:] if template[-1:] in ".?!" and text[-1:] == template[-1:] else ""
        if rng.random() < 0.15:
            closer = CLOSERS[rng.randrange(len(CLOSERS))]
            text = text[: len(text) - len(end)] + closer + end
        if rng.random() < 0.3 and end:
            text = text[: len(text) - len(end)]
        return text
