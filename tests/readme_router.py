# ruff: noqa: UP032  (kept verbatim: the README is Python 3.6 era)
"""The Router example of switchio's README.rst, verbatim apart from the import."""
from switchio_lab.apps.routers import Router

router = Router(
    guards={
        'Call-Direction': 'inbound',
        'variable_sofia_profile': 'external'},
    subscribe=('PLAYBACK_START', 'PLAYBACK_STOP'),
)

@router.route('(.*)')
async def welcome(sess, match, router):
    """Say hello to inbound calls.
    """
    await sess.answer()  # resumes once call has been fully answered
    sess.log.info("Answered call to {}".format(match.groups(0)))

    sess.playback(  # non-blocking
        'en/us/callie/ivr/8000/ivr-founder_of_freesource.wav')
    await sess.recv("PLAYBACK_START")
    sess.log.info("Playing welcome message")

    await sess.recv("PLAYBACK_STOP")
    await sess.hangup()  # resumes once call has been fully hungup
