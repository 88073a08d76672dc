"""What the pages call the register's values: English first, then the operator's own words
(the application form and the procedure are in Chinese)."""

STAGES = {
    "applied": "applied 已申请",
    "phone_checked": "phone checked 电话审核",
    "site_checked": "site checked 实地审核",
    "submitted": "submitted 已报送",
    "approved": "approved 已批准",
    "declined": "declined 未通过",
    "work_order": "work order 已派工",
    "installed": "installed 已装机",
    "trained": "trained 已培训",
}

CHANNELS = {
    "online": "online 网络",
    "phone_list": "phone list 电话名录",
    "cold_visit": "cold visit 陌生拜访",
    "referral": "referral 商户转介绍",
}

DOCUMENTS = {
    "licence_copy": "Business licence copy 营业执照复印件",
    "legal_id_copy": "Legal person ID copy 法人身份证复印件",
    "tax_copy": "Tax registration copy 税务登记证复印件",
    "org_code_copy": "Organisation code copy 组织机构代码证复印件",
    "account_permit": "Account opening permit 开户许可证",
    "photo_licence": "Photo of the original licence 营业执照原件照片",
    "photo_sign": "Photo of the shop sign 门头照片",
    "photo_desk": "Photo of the front desk 收银台照片",
    "photo_premises": "Photo of the premises 经营场所照片",
}

REVIEW_STEPS = {
    "phone": "Phone check 电话审核",
    "site": "On-site check 实地审核",
    "submission": "Submission 报送银行/第三方",
    "decision": "Decision 审批结果",
}

TRAINING_ITEMS = {
    "sign_on": "Sign-on 签到",
    "sale": "Sale 消费",
    "void": "Void 消费撤销",
    "pre_auth": "Pre-authorisation 预授权",
    "refund": "Refund 退货",
    "settlement": "Settlement 结算",
    "paper_loading": "Loading paper 装纸",
    "paper_jam": "Paper jams 卡纸处理",
    "near_end": "Near-end warning 纸将尽提示",
}

WORK_ORDER_KINDS = {"desktop": "desktop 固定 (phone line)", "mobile": "mobile 移动 (GPRS/4G)"}
LINES = {"direct": "direct line 直线", "extension": "extension 分机"}
