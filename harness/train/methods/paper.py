"""The paper's training methods (Table 1): what each carries from one iteration to the next."""
from harness.train.methods import GIVEN, Method, register

register(Method("sft", keeps_model=True, keeps_optimizer=True, responses=GIVEN))
register(Method("iterative_rft", keeps_model=True, keeps_optimizer=False))
register(Method("restem", keeps_model=False, keeps_optimizer=False))
register(Method("continuous", keeps_model=True, keeps_optimizer=True))
