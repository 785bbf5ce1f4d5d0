"""The reference recorder ``vdif-record``: jive5ab's VSI-S subset over our own UDP capture and vbs writer."""
