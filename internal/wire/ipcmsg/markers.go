package ipcmsg

// Requests (client → daemon).
func (Bind) isRequest()            {}
func (Dial) isRequest()            {}
func (Send) isRequest()            {}
func (Close) isRequest()           {}
func (SendTo) isRequest()          {}
func (Info) isRequest()            {}
func (Handshake) isRequest()       {}
func (ResolveHostname) isRequest() {}
func (SetHostname) isRequest()     {}
func (SetVisibility) isRequest()   {}
func (Deregister) isRequest()      {}
func (SetTags) isRequest()         {}
func (SetWebhook) isRequest()      {}
func (SetTaskExec) isRequest()     {}
func (Network) isRequest()         {}
func (Health) isRequest()          {}
func (Managed) isRequest()         {}
func (RegistryOp) isRequest()      {}
func (Hello) isRequest()           {}
func (Unbind) isRequest()          {}
func (DialEx) isRequest()          {}
func (ConnOpt) isRequest()         {}
func (SendToFrom) isRequest()      {}

// Replies and unsolicited messages (daemon → client).
func (BindOK) isReply()            {}
func (DialOK) isReply()            {}
func (Accept) isReply()            {}
func (Recv) isReply()              {}
func (CloseOK) isReply()           {}
func (RecvFrom) isReply()          {}
func (InfoOK) isReply()            {}
func (HandshakeOK) isReply()       {}
func (ResolveHostnameOK) isReply() {}
func (SetHostnameOK) isReply()     {}
func (SetVisibilityOK) isReply()   {}
func (DeregisterOK) isReply()      {}
func (SetTagsOK) isReply()         {}
func (SetWebhookOK) isReply()      {}
func (SetTaskExecOK) isReply()     {}
func (NetworkOK) isReply()         {}
func (HealthOK) isReply()          {}
func (ManagedOK) isReply()         {}
func (RegistryOpOK) isReply()      {}
func (HelloOK) isReply()           {}
func (OK) isReply()                {}
func (ConnClosed) isReply()        {}
func (UnbindOK) isReply()          {}
func (ConnOptOK) isReply()         {}
