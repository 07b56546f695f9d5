from . import login_code
