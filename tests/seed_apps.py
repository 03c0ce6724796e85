"""The examples of switchio's "Call Applications" page, verbatim apart from the import."""
import switchio_lab as switchio

num_calls = 0


@switchio.callback('CHANNEL_ANSWER')
def counter(session):
    global num_calls
    num_calls += 1


class Proxier(object):
    @switchio.coroutine('CHANNEL_PARK')
    async def on_park(self, sess):
        if sess.is_inbound():
            sess.bridge(dest_url="${sip_req_user}@${sip_req_host}:${sip_req_port}")
            await sess.recv("CHANNEL_ANSWER")


class TonePlay(object):
    """Play a 'milli-watt' tone on the outbound leg and echo it back
    on the inbound
    """
    @switchio.event_callback('CHANNEL_PARK')
    def on_park(self, sess):
        if sess.is_inbound():
            sess.answer()

    @switchio.event_callback("CHANNEL_ANSWER")
    def on_answer(self, sess):
        # inbound leg simply echos back the tone
        if sess.is_inbound():
            sess.echo()

        # play infinite tones on calling leg
        if sess.is_outbound():
            sess.playback('tone_stream://%(251,0,1004)',
                          params={'loops': '-1'})
