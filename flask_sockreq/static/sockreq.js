/* Flask-SockReq browser client: written for issue 5. */
