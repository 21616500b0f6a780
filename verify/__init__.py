"""After deploy: is the Cloud Run -> connector -> Redis path really open?"""
