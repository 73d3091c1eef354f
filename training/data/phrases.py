"""Components for composing motion commands (data only; `compose.py` crosses them).

People do not pick a sentence from a list: they pick a verb, a way to say the direction,
a way to say the amount, maybe a speed, a connector, a polite opening, and say it in
their own style. Each family below is one of those choices; `compose.py` crosses them, so
the data holds combinations no one wrote out. A component's id is "<family>/<index>":
append new entries (ids stay stable). The held-out split hides whole components (see
`compose.split_components`), except the CORE ones at the end of this file.

Slots inside entries: {q} a quantity ("2 m"), {dir} a direction phrase, {side} left or
right, {adj} a direction adjective, {dist}/{angle}/{dur} a quantity phrase, {speed} a
speed phrase, {verb}/{tverb}/... a verb of that family, {obj} an object, {area} a room.
Fluff (openings, closings, fillers, connectors) never says a number, a unit, a pace or a
direction: test_compose checks.
"""
from __future__ import annotations

# ---------------------------------------------------------------- verbs
# Straight motion, direction given separately ("drive forward 2 m", "move 2 m backward").
MOVE_VERB = [
    "move", "go", "drive", "travel", "head", "roll", "proceed", "move the robot",
    "drive the robot", "make your way", "continue", "scoot", "creep", "crawl", "cruise",
    "inch", "step", "take the robot", "move yourself", "get moving", "navigate", "ride", "run",
    "displace yourself", "bring yourself",
]
# Straight motion whose verb carries the direction (sign in the family name).
VERB_FORWARD = [
    "advance", "go straight", "drive straight", "go straight ahead", "keep straight",
    "move ahead", "drive ahead", "proceed straight", "push forward", "push ahead",
    "carry on straight", "inch forward", "roll ahead", "head straight", "go on ahead",
]
VERB_BACKWARD = [
    "back up", "reverse", "back off", "retreat", "back away", "step back",
    "reverse your direction and travel", "reverse your direction and move", "back it up",
    "go in reverse", "drive in reverse", "back the robot up", "move in reverse", "ease back",
    "pull back", "roll back", "travel in reverse",
]
# "cover 10 meters moving forward": an amount first, the direction as a participle.
COVER_VERB = ["cover", "travel", "traverse", "go", "move", "drive", "do", "complete"]
PARTICIPLE = ["moving", "going", "heading", "traveling", "travelling", "driving", "rolling"]
# Rotation in place.
TURN_VERB = [
    "turn", "rotate", "spin", "pivot", "swivel", "yaw", "turn yourself", "rotate yourself",
    "rotate in place", "turn in place", "spin in place", "pivot in place", "turn the robot",
    "rotate the robot", "change your heading", "adjust your heading", "twist",
    "rotate on the spot", "turn on the spot", "swing around", "reorient yourself",
]
# Turns with no angle ("turn left" = 90 deg): never "spin" (could mean keep spinning).
DEFAULT_TURN_VERB = [
    "turn", "rotate", "pivot", "swivel", "turn yourself", "rotate yourself", "turn the robot",
    "rotate in place", "turn in place", "rotate the robot",
]
TAKE = ["take", "hang", "make", "do", "bang", "pull", "swing"]   # "take a left", "hang a right"
MAKE = ["make", "do", "perform", "execute", "complete", "carry out"]  # "make a 90 degree turn"
TURN_NOUN = ["turn", "rotation", "pivot", "spin", "rotational movement"]
# Still bounded: "keep moving forward for 5 s" (without a bound these are refused).
KEEP_MOVING = ["keep moving", "keep driving", "keep going", "continue moving",
               "continue driving", "keep rolling", "carry on moving", "stay moving"]
KEEP_TURNING = ["keep turning", "keep rotating", "keep spinning", "continue rotating",
                "continue turning", "carry on spinning"]

# ---------------------------------------------------------------- directions
FORWARD = [
    "forward", "forwards", "ahead", "straight ahead", "in the forward direction",
    "in a forward direction", "straight", "frontward", "to the front", "onward",
    "in front of you", "frontwards", "forward direction", "straight forward",
]
BACKWARD = [
    "backward", "backwards", "back", "in reverse", "in the backward direction",
    "in the reverse direction", "rearward", "to the rear", "in a backward direction",
    "backward direction", "behind you", "in the backwards direction",
]
LEFT = [
    "left", "to the left", "to your left", "counterclockwise", "counter-clockwise",
    "anticlockwise", "anti-clockwise", "ccw", "counter to the clockwise direction",
    "in the counterclockwise direction", "in an anti-clockwise direction", "leftward",
    "to the left-hand side", "toward the left", "towards your left", "opposite to clockwise",
]
RIGHT = [
    "right", "to the right", "to your right", "clockwise", "cw", "in the clockwise direction",
    "in a clockwise direction", "rightward", "to the right-hand side", "toward the right",
    "towards your right", "in a clockwise manner",
]
# Adjectives: "make a left turn", "perform a clockwise rotation".
LEFT_ADJ = ["left", "counterclockwise", "counter-clockwise", "anticlockwise", "anti-clockwise",
            "leftward", "left-hand", "ccw"]
RIGHT_ADJ = ["right", "clockwise", "rightward", "right-hand", "cw"]
# Sideways: a straight motion to the side is a strafe, which this base cannot do.
LATERAL_LEFT = ["to the left", "to your left", "left", "sideways to the left", "leftward",
                "to the left side", "over to the left", "left sideways"]
LATERAL_RIGHT = ["to the right", "to your right", "right", "sideways to the right",
                 "rightward", "to the right side", "over to the right", "right sideways"]

# ---------------------------------------------------------------- quantities
DISTANCE = [
    "{q}", "{q}", "for {q}", "by {q}", "a distance of {q}", "for a distance of {q}",
    "covering a distance of {q}", "covering {q}", "spanning {q}", "a length of {q}",
    "for a length of {q}", "a total of {q}", "for a total of {q}", "over {q}", "exactly {q}",
    "for a total distance of {q}", "a full {q}", "over a distance of {q}",
    "roughly {q}", "precisely {q}", "a span of {q}",
    # a further leg ("and go five more feet"): "{q} more" may become "five more feet"
    "another {q}", "a further {q}", "{q} more",
]
ANGLE = [
    "{q}", "{q}", "by {q}", "through {q}", "a total of {q}", "by a total of {q}",
    "an angle of {q}", "by an angle of {q}", "through an angle of {q}", "exactly {q}",
    "a full {q}", "about {q}", "by precisely {q}", "a rotation of {q}",
]
DURATION = [
    "for {q}", "for {q}", "for a duration of {q}", "for a period of {q}", "for a total of {q}",
    "for the next {q}", "over the next {q}", "during {q}", "for a time of {q}",
    "for a span of {q}", "for exactly {q}", "for about {q}", "for roughly {q}",
    "for {q} straight", "for a full {q}",
]
SPEED = [
    "at {q}", "at {q}", "at a velocity of {q}", "at a speed of {q}", "with a speed of {q}",
    "maintaining a speed of {q}", "at a rate of {q}", "with a velocity of {q}",
    "keeping a speed of {q}", "at a constant {q}", "at a steady {q}", "moving at {q}",
    "at a pace of {q}", "holding {q}", "at a constant speed of {q}", "at an average of {q}",
]
SLOW = ["slowly", "slowly", "slow", "gently", "carefully", "at a slow pace", "at low speed",
        "nice and slow", "cautiously", "at a gentle pace", "unhurriedly", "at a crawl"]
FAST = ["quickly", "quickly", "fast", "rapidly", "swiftly", "at a fast pace", "at high speed",
        "briskly", "speedily", "at a brisk pace", "hastily", "promptly"]
# Named turns: the lexicon the copy rule allows (quarter 90, half/around/u-turn 180,
# three-quarter 270, full 360). (phrase, degrees); a side may follow ("... to the right").
NAMED_TURN = [
    ("turn around", 180), ("turn yourself around", 180), ("do a u-turn", 180),
    ("make a u-turn", 180), ("pull a u-turn", 180), ("about face", 180),
    ("do an about-face", 180), ("spin around", 180), ("turn back around", 180),
    ("face the other way", 180), ("face the opposite direction", 180),
    ("turn to face the opposite way", 180), ("do a half turn", 180), ("make a half turn", 180),
    ("rotate half a circle", 180), ("do a one-eighty", 180), ("do a quarter turn", 90),
    ("make a quarter turn", 90), ("rotate a quarter turn", 90), ("rotate a quarter of a turn", 90),
    ("do a three-quarter turn", 270), ("make a three-quarter turn", 270),
    ("rotate three quarters of a turn", 270), ("do a full turn", 360), ("make a full turn", 360),
    ("spin a full circle", 360), ("turn a full circle", 360), ("do a full rotation", 360),
    ("make a complete rotation", 360), ("rotate a complete circle", 360),
    ("do a full spin", 360), ("turn through a full circle", 360), ("do a complete turn", 360),
    ("quarter turn", 90), ("half turn", 180), ("u-turn", 180), ("full turn", 360),
]
# Nouns for "{make} a {adj} {noun}" ("make a left u-turn", "do a clockwise quarter turn").
NAMED_NOUN = [("u-turn", 180), ("quarter turn", 90), ("half turn", 180),
              ("three-quarter turn", 270), ("full turn", 360), ("full rotation", 360),
              ("half rotation", 180), ("quarter rotation", 90), ("full circle", 360),
              ("complete rotation", 360), ("quarter-turn", 90)]

# ---------------------------------------------------------------- clause frames
# Frames say the order; the slots pick the components. A frame without {dir} or a
# direction-carrying verb means forward (straight) / left (rotation), as the policy says.
MOVE_FRAME = [
    "{verb} {dir} {dist}", "{verb} {dir} {dist}", "{verb} {dist} {dir}", "{fverb} {dist}",
    "{cover} {dist} {moving} {dir}", "{moving} {dir}, {cover} {dist}", "{verb} {dist}",
    "{verb} {dir} {speed} {dist}", "{dir}, {verb} {dist}", "{verb} {dir}, {dist}",
]
TURN_FRAME = [
    "{tverb} {dir} {angle}", "{tverb} {dir} {angle}", "{tverb} {angle} {dir}",
    "{tverb} {angle}", "{make} a {adj} {noun} of {q}", "{make} a {noun} of {q} {dir}",
    "{make} a {q} {noun} {dir}", "{make} a {q} {adj} {noun}", "{tverb} {dir} {speed} {angle}",
    "{dir}, {tverb} {angle}",
]
DEFAULT_TURN_FRAME = [
    "{dtverb} {dir}", "{dtverb} {dir}", "{take} a {side}", "{make} a {adj} turn",
    "{make} a turn {dir}", "{take} a {side} turn", "{dtverb} to face {side}",
    "{dtverb} {dir} once",
]
NAMED_FRAME = ["{named}", "{named}", "{named} {dir}", "{make} a {adj} {nnoun}",
               "{make} a {nnoun} {dir}"]
TIMED_MOVE_FRAME = [
    "{verb} {dir} {dur}", "{verb} {dir} {dur}", "{verb} {dur} {dir}", "{fverb} {dur}",
    "{dur}, {verb} {dir}", "{verb} {dir} {speed} {dur}", "{keep} {dir} {dur}",
    "{verb} {dur}", "{moving} {dir}, {keep} {dur}",
]
TIMED_TURN_FRAME = [
    "{tverb} {dir} {dur}", "{tverb} {dir} {dur}", "{tverb} {dur} {dir}", "{dur}, {tverb} {dir}",
    "{tverb} {dir} {speed} {dur}", "{tkeep} {dir} {dur}", "{tverb} {dur}",
]

# ---------------------------------------------------------------- refused motions
# No bound on distance, angle or time: refused as unbounded.
UNTIL = [
    "you reach the wall", "you hit something", "i say stop", "i tell you to stop",
    "you see the door", "you are told otherwise", "the path ends", "you get to the table",
    "you bump into something", "something blocks you", "the end of the hallway",
    "you can't go any further", "i say so", "you reach the door", "the battery runs low",
    "further notice", "you find the exit", "you are close to the {obj}",
]
UNTIL_TURN = ["you face the door", "you see me", "you face the {obj}", "i say stop",
              "you are facing the window", "i tell you to stop", "you find the exit",
              "you're pointing at the {obj}"]
UNTIL_WORD = ["until", "till", "until", "up until", "right up until"]
FOREVER = ["forever", "indefinitely", "nonstop", "continuously", "without stopping",
           "endlessly", "and keep going", "and don't stop", "with no end", "for as long as you can",
           "and never stop", "constantly", "for good"]
UNBOUNDED_FRAME = [
    "{verb} {dir} {speed}", "{verb} {dir} {speed}", "{speed}, {verb} {dir}", "{fverb} {speed}",
    "{verb} {dir} {until} {u}", "{verb} {dir} {speed} {until} {u}", "{fverb} {until} {u}",
    "{verb} {dir} {forever}", "{keep} {dir}", "{keep} {dir} {speed}", "{verb} {dir}",
    "{fverb} {forever}", "{tkeep} {tdir}", "{tkeep} {tdir} {aspeed}",
    "{tverb} {tdir} {until} {ut}", "{tverb} {tdir} {forever}", "{keep} {dir} {until} {u}",
    "{cover} as much distance as you can {moving} {dir}",
]
# What this base cannot do (a strafe, a diagonal, a curve, a circle, a pattern, following).
SIDESTEP = ["strafe", "slide", "sidestep", "shift", "crab", "step sideways", "glide"]
DIAGONAL = ["to the front left", "to the front right", "towards the back left", "to the back right",
            "forward and to the left", "backward and to the right", "toward the far corner",
            "forward-left", "back-right"]
AREA = ["room", "hall", "warehouse", "office", "yard", "kitchen", "lab", "corridor"]
UNSUPPORTED_FRAME = [
    # sideways
    "{verb} {lat} {dist}", "{verb} {dist} {lat}", "{verb} {lat} {dist}", "{side_verb} {lat} {dist}",
    "{side_verb} {dist} {lat}", "{side_verb} {lat}", "{verb} sideways {dist}",
    "{verb} sideways {lat} {dist}", "{verb} {lat} {dur}",
    # diagonal
    "{verb} diagonally {dist}", "{verb} diagonally {diag} {dist}", "{verb} {dist} diagonally",
    "{verb} {dist} diagonally {diag}", "cut diagonally across {dist}",
    # zigzag, slalom
    "zigzag {dir} {dist}", "{verb} {dir} in a zigzag {dist}", "{verb} in a zig-zag pattern {dist}",
    "{verb} {dir} zigzagging {dur}", "weave left and right {dist}", "slalom {dir} {dist}",
    "{verb} in a zigzag line", "zig-zag across the {area}",
    # circles and arcs
    "{verb} in a circle", "{verb} in a circle with a radius of {q}",
    "{verb} around in a circle {dur}", "circle around the {obj}", "{make} a circle with a {q} radius",
    "{verb} in circles", "do a loop around the {obj}", "orbit the {obj}", "{verb} in a circular path",
    "{verb} in a circle of {q} diameter", "{verb} in an arc to the {side}",
    "curve to the {side} while {moving} {dist}", "{verb} {dir} {dist} while turning {side}",
    "follow a curved path to the {side}", "arc {side} {dist}", "{verb} in a curve to the {side}",
    "{verb} {dir} in a gentle curve to the {side}", "swerve {side} {dist}",
    "{verb} {dir} and turn {side} at the same time", "take a wide curve to the {side}",
    "{verb} an arc of {q} to the {side}", "curve {dir} and to the {side}",
    # perimeter, walls, people
    "follow the perimeter of the {area}", "{verb} along the perimeter of the {area}",
    "patrol the perimeter", "trace the outline of the {area}", "{verb} around the edge of the {area}",
    "{verb} around the {area} along the walls", "circle the {area}", "do a lap around the {area}",
    "follow the wall", "follow the wall on your {side}", "{verb} along the wall {dist}",
    "hug the {side} wall", "keep the wall on your {side} and {verb} {dir} {dist}",
    "follow the {side} wall {dur}", "wall-follow {dist}", "follow me", "follow that person",
    "follow the person in front of you {dist}", "drive a figure eight",
    "do a figure of eight around the {obj}", "{verb} in a spiral",
]

# ---------------------------------------------------------------- sequences
# Between clauses. {b} the next clause, {b_ing} its gerund ("followed by turning left").
JOINER = [
    " and then {b}", ", then {b}", " then {b}", ". Then {b}", ", and then {b}", "; then {b}",
    ". After that, {b}", ", after that {b}", ", subsequently {b}", ". Subsequently, {b}",
    ", followed by {b_ing}", " followed by {b_ing}", ". Once done, {b}", ", once done {b}",
    ". Once that's finished, {b}", ", and once that's done, {b}", " and {b}", ", next {b}",
    ". Next, {b}", "; {b}", " before {b_ing}", ", and after that {b}", ". {b}", ", {b}",
    ", and when you're done {b}", ". When that is complete, {b}", " -> {b}", " & {b}",
    ", and immediately after {b}", ". Afterwards, {b}", ", afterwards {b}", ", then immediately {b}",
    " and once finished {b}", ". As soon as you're done, {b}", ", and from there {b}",
    ", and {b}",
]
# Before the first clause ({a} the clause, {a_ing} its gerund).
OPENER = ["{a}", "{a}", "{a}", "{a}", "first {a}", "first, {a}", "start by {a_ing}",
          "begin by {a_ing}", "to begin, {a}", "initially, {a}", "first of all, {a}"]
# Before the last clause of three.
FINALLY = [", and finally {b}", ". Finally, {b}", " and lastly {b}", ", and to finish {b}",
           ". To finish, {b}", ", then finally {b}"]
# Reversed order: "after moving 2 m, turn left" (the first action is still {a}).
AFTER = ["after {a_ing}, {b}", "once you've finished {a_ing}, {b}", "when you're done {a_ing}, {b}",
         "after you finish {a_ing}, {b}"]

# ---------------------------------------------------------------- openings and closings
PREAMBLE = [
    "robot, ", "hey robot, ", "could you please ", "can you ", "please ", "i need you to ",
    "i would like the robot to ", "i'd like you to ", "kindly ", "go ahead and ", "now ",
    "ok robot, ", "would you ", "i want you to ", "the robot should ", "your task is to ",
    "next, ", "alright, ", "could you ", "please go ahead and ", "i need the robot to ",
    "let's ", "robot, please ", "you should ", "can you please ", "pls ", "hey, ",
    "your next step is to ", "it would be great if you could ", "okay, ",
]
SUFFIX = [", please", " please", ", thanks", " thank you", " now", " for me", " pls",
          ", if you can", " when you're ready", ", thank you", " immediately", " asap"]

# Why the command is given: people say the situation with the request ("there's a cart in the
# aisle, so back up 1 m", "... while I watch"). Every draw without these refused such
# commands as unsupported (an outside set written apart from the generator, session 11).
# No direction, number, unit, pace, place, chore, stop or turning word: the row's answer
# is the request's alone (a test checks each phrase with the node's grounding).
CONTEXT_BEFORE = [
    "there's a cart in the aisle, so ", "the scanner can't read the label yet, so ",
    "we're running a calibration test today, so ", "the tech needs more room here, so ",
    "the camera can't see the shelf yet, so ", "the pallet is blocking the lane, so ",
    "the sensor readings look odd, so ", "we need to line you up with the bench, so ",
    "the visitors are arriving soon, so ", "for this test, ", "for the demo, ",
    "as part of the motor check, ", "while the crew restocks the shelves, ",
    "the lab is busy today, so ", "okay, the lane is clear now, so ",
    "my colleague wants to look at the wheels, so ", "there is a box in your path, so ",
    "the arm can't reach you yet, so ", "we're recording a video of you, so ",
    "the lidar has a blind spot, so ", "looks like you're not lined up with the rack, so ",
    "a forklift is coming through, so ", "the floor was just mopped, so ",
    "the nurse needs the hallway clear, so ", "since the crowd has gone, ",
    "the kids are playing nearby, so ", "the signal is weak in this corner, so ",
]
CONTEXT_AFTER = [
    " so I can check the readings", " while I watch", " so the camera can see the shelf",
    " to make room for the cart", " so the tech can finish the job", " for the calibration run",
    " so we can test the motors", " while I record the video", " so the scanner can read the label",
    " to let people through", " so I can see the sensor data", " as part of the test",
    " for the demo", " to get clear of the pallet", " so the nurse can pass",
    " so everyone can see you", " while we log the data",
]

# ---------------------------------------------------------------- styles
# Terse operator shorthand.
TERSE_MOVE_VERB = ["", "", "", "mv", "go", "drive", "move"]
TERSE_TURN_VERB = ["rot", "turn", "rotate", "yaw", "spin", "tn", ""]
TERSE_DEFAULT_TURN_VERB = ["turn", "rot", "tn", "rotate", "yaw", ""]  # "": "R, fwd 2m"; never "spin" (DEFAULT_TURN_VERB)
TERSE_FORWARD = ["fwd", "fw", "forward", "fwd", "ahead", "fwrd", "fwd."]
TERSE_BACKWARD = ["bwd", "back", "rev", "bk", "backward", "reverse", "bkwd"]
TERSE_LEFT = ["L", "left", "ccw", "lt", "left", "CCW", "l"]
TERSE_RIGHT = ["R", "right", "cw", "rt", "right", "CW", "r"]
TERSE_SPEED = ["@ {q}", "@{q}", "at {q}", "spd {q}", "v={q}", "speed {q}", "{q}"]  # "fwd 0.5 m/s 10 s"
TERSE_DURATION = ["{q}", "for {q}", "{q} long", "t={q}", "dur {q}"]
TERSE_JOINER = [", {b}", "; {b}", " then {b}", " -> {b}", ", then {b}", " > {b}", " + {b}",
                " / {b}", " | {b}", ". {b}"]
TERSE_UNTIL = ["till wall", "til stop", "until wall", "until i say", "till obstacle",
               "until stopped", "til told"]
# Spoken (transcribed): fillers between words, no punctuation.
FILLER = ["uh", "um", "uh", "like", "you know", "so", "okay", "er", "hmm", "well", "erm",
          "i mean", "basically", "just"]
SPOKEN_PREAMBLE = ["okay so ", "alright robot ", "hey can you ", "so um ", "can you like ",
                   "i want you to uh ", "yeah so ", "okay um ", "robot um ", "so what i need is for you to ",
                   "could you just ", "alright so ", "um can you ", "ok now ", "uh robot "]
SPOKEN_JOINER = [" and then {b}", " then {b}", " and after that {b}", " and uh then {b}",
                 " and once you're done {b}", " and then um {b}", " and {b}", " then uh {b}",
                 " and like then {b}", " after that {b}", " okay and then {b}"]
# Formal.
FORMAL_PREAMBLE = ["Please ", "Kindly ", "I request that you ", "Would you please ",
                   "You are instructed to ", "Please proceed to ", "I would ask that you ",
                   "Would you be so kind as to ", "The robot is requested to ",
                   "It is requested that the robot ", "Please be so kind as to ",
                   "You are required to ", "Please carry out the following: "]
FORMAL_SUFFIX = [".", ".", ". Thank you.", ", if you would.", ". Thank you very much.",
                 ", at your convenience.", ". Many thanks."]
# Long-winded, as an LLM front-end rephrases a request.
LONG_PREAMBLE = [
    "The user would like the robot to ", "Please have the robot ", "Instruct the robot to ",
    "Based on the request, the robot should ", "I would like you to go ahead and ",
    "Your next task is to ", "Here is what I need you to do: ", "For this step, please ",
    "Could you please make sure to ", "The operator is asking you to ",
    "In order to complete the task, please ", "Acting on the user's request, ",
    "The following action is requested: ", "As requested by the user, please ",
    "Command for the robot: ", "I am going to need you to ", "What I would like is for you to ",
    "At this point, the robot needs to ", "The user's instruction translates to: ",
]
LONG_SUFFIX = [", and let me know once you are done.", ". Thank you!", ", if that is okay.",
               ". Please confirm when finished.", ", as soon as you are able to.",
               ". That is all for now.", ", please and thank you.",
               ". Let me know when the task is complete.", ", and thanks in advance."]
LONG_JOINER = [", and once that is complete, {b}", ". After you have finished that, please {b}",
               ", and subsequently {b}", ". Once that has been completed, {b}",
               ", and after that has been done, {b}", ". Following that, {b}",
               ", and when that is finished, go ahead and {b}", ". Then, as the next step, {b}",
               ", after which you should {b}", ". Upon completion, {b}",
               ", followed by {b_ing}", ". Subsequently, please {b}"]
# Non-native English: prepositions, singular units, verbs as nouns.
NN_MOVE_VERB = ["go", "move", "make move", "do move", "moving", "you go", "robot move",
                "please to move", "you must go", "make going", "be moving", "doing move"]
NN_FORWARD = ["forward", "to front", "in front", "to the forward", "front", "straight",
              "to forward", "ahead side", "front side"]
NN_BACKWARD = ["backward", "to back", "back side", "to backward", "in back", "behind",
               "to the back", "back direction"]
NN_TURN_VERB = ["turn", "make turn", "do turn", "rotate", "make rotation", "turning",
                "you turn", "do rotate", "make the turn", "give turn"]
NN_LEFT = ["to left", "left", "on the left", "to left side", "left side", "in left",
           "to the left way", "on left", "anti clockwise", "counter clockwise"]
NN_RIGHT = ["to right", "right", "on the right", "to right side", "right side", "in right",
            "to the right way", "on right", "clock wise", "clockwise way"]
NN_DISTANCE = ["{q}", "of {q}", "for {q}", "about {q}", "distance {q}", "{q} distance",
               "the {q}", "around {q}"]
NN_ANGLE = ["{q}", "of {q}", "{q} angle", "with {q}", "the {q}", "around {q}"]
NN_DURATION = ["for {q}", "during {q}", "for the {q}", "{q} time", "for time of {q}",
               "during the {q}"]
NN_SPEED = ["with velocity {q}", "with speed {q}", "in speed {q}", "with the speed {q}",
            "at {q}", "velocity {q}", "speed of {q}"]
NN_PREAMBLE = ["please you ", "robot please ", "you must ", "i want that you ", "can you to ",
               "please to ", "robot you ", "is possible to ", "i need that you ", "please robot ",
               "now you ", "you can "]
NN_JOINER = [" and after {b}", " after that {b}", ", after this {b}", " and next {b}",
             " and then after {b}", ", then after {b}", " and after this {b}", ". After {b}",
             ", and later {b}", " and also after {b}"]

# ---------------------------------------------------------------- never held out
# The held-out split hides whole components (compose.split_components), but never these:
# the common words, and every phrasing issue 12 saw the model fail on, which the model must
# train on. The split measures generalisation to the long tail of the other entries.
CORE = {
    "MOVE_VERB": {"move", "go", "drive", "travel", "proceed", "head"},
    "VERB_FORWARD": {"advance", "go straight", "move ahead"},
    "VERB_BACKWARD": {"back up", "reverse", "reverse your direction and travel",
                      "reverse your direction and move", "back off", "step back"},
    "COVER_VERB": {"cover", "travel"}, "PARTICIPLE": {"moving", "going"},
    "TURN_VERB": {"turn", "rotate", "spin", "pivot", "turn in place", "rotate in place"},
    "DEFAULT_TURN_VERB": {"turn", "rotate"}, "TAKE": {"take", "hang", "make"},
    "MAKE": {"make", "do", "perform"},
    "FORWARD": {"forward", "forwards", "ahead", "straight ahead", "in the forward direction",
                "straight"},
    "BACKWARD": {"backward", "backwards", "back", "in reverse", "in the backward direction"},
    "LEFT": {"left", "to the left", "to your left", "counterclockwise", "counter-clockwise",
             "anticlockwise", "anti-clockwise", "ccw", "counter to the clockwise direction",
             "in the counterclockwise direction"},
    "RIGHT": {"right", "to the right", "to your right", "clockwise", "cw",
              "in the clockwise direction"},
    "LEFT_ADJ": {"left", "counterclockwise"}, "RIGHT_ADJ": {"right", "clockwise"},
    "LATERAL_LEFT": {"to the left", "left"}, "LATERAL_RIGHT": {"to the right", "right"},
    "DISTANCE": {"{q}", "for {q}", "by {q}", "a distance of {q}", "for a distance of {q}",
                 "covering a distance of {q}", "spanning {q}", "a length of {q}", "a total of {q}"},
    "ANGLE": {"{q}", "by {q}", "a total of {q}"},
    "DURATION": {"for {q}", "for a duration of {q}", "for a total of {q}"},
    "SPEED": {"at {q}", "at a velocity of {q}", "at a speed of {q}", "with a speed of {q}",
              "maintaining a speed of {q}"},
    "SLOW": {"slowly", "slow"}, "FAST": {"quickly", "fast"},
    "JOINER": {" and then {b}", ", then {b}", " then {b}", ", subsequently {b}",
               ", followed by {b_ing}", ", after that {b}", ", once done {b}",
               ". Once that's finished, {b}", " and {b}"},
    "OPENER": {"{a}", "first {a}"},
    "PREAMBLE": {"robot, ", "could you please ", "i need you to ", "i would like the robot to ",
                 "go ahead and ", "please ", "can you "},
    "SUFFIX": {", please", " please"},
    "MOVE_FRAME": {"{verb} {dir} {dist}", "{verb} {dist} {dir}", "{fverb} {dist}",
                   "{cover} {dist} {moving} {dir}", "{verb} {dist}", "{verb} {dir} {speed} {dist}"},
    "TURN_FRAME": {"{tverb} {dir} {angle}", "{tverb} {angle} {dir}", "{tverb} {angle}",
                   "{tverb} {dir} {speed} {angle}"},
    "DEFAULT_TURN_FRAME": {"{dtverb} {dir}", "{take} a {side}", "{make} a {adj} turn"},
    "NAMED_FRAME": {"{named}", "{named} {dir}"},
    "TIMED_MOVE_FRAME": {"{verb} {dir} {dur}", "{fverb} {dur}", "{verb} {dir} {speed} {dur}",
                         "{dur}, {verb} {dir}"},
    "TIMED_TURN_FRAME": {"{tverb} {dir} {dur}", "{tverb} {dir} {speed} {dur}"},
    "UNBOUNDED_FRAME": {"{verb} {dir} {speed}", "{verb} {dir}", "{verb} {dir} {until} {u}",
                        "{speed}, {verb} {dir}"},
    "UNSUPPORTED_FRAME": {"{verb} {lat} {dist}", "{verb} {dist} {lat}", "{verb} in a circle",
                          "zigzag {dir} {dist}", "{verb} in an arc to the {side}",
                          "follow the perimeter of the {area}", "follow the wall",
                          "{verb} {dir} {dist} while turning {side}", "{verb} diagonally {dist}",
                          "{side_verb} {lat} {dist}", "{verb} sideways {dist}"},
    "NAMED_TURN": {"turn around", "do a u-turn", "make a u-turn", "do a quarter turn",
                   "do a half turn", "do a three-quarter turn", "do a full turn",
                   "do a full rotation", "about face"},
    "UNTIL": {"i say stop", "you reach the wall"}, "FOREVER": {"forever", "indefinitely"},
    "KEEP_MOVING": {"keep moving", "keep going"}, "KEEP_TURNING": {"keep turning", "keep rotating"},
}
